package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The soak's verdict fails a resource that keeps growing and passes one
// that only wobbles.
func TestJudgeSoak(t *testing.T) {
	var flat, leaking []SoakPoint
	for i := range 60 {
		wobble := float64(i%3) * (1 << 20)
		flat = append(flat, SoakPoint{T: float64(i * 10), RSS: 200<<20 + wobble, HeapInuse: 80 << 20,
			Goroutines: 500 + float64(i%5), OpenFDs: 300})
		leaking = append(leaking, SoakPoint{T: float64(i * 10), RSS: 200<<20 + float64(i)*(4<<20), HeapInuse: 80 << 20,
			Goroutines: 500 + float64(10*i), OpenFDs: 300})
	}
	verdict := func(r SoakResult) map[string]bool {
		ok := map[string]bool{}
		for _, g := range r.Growth {
			ok[g.Name] = g.OK
		}
		return ok
	}
	require.Equal(t, map[string]bool{"rss": true, "heap": true, "goroutines": true, "open files": true}, verdict(judgeSoak(flat, 3)))
	require.Equal(t, map[string]bool{"rss": false, "heap": true, "goroutines": false, "open files": true}, verdict(judgeSoak(leaking, 3)))
	require.Empty(t, judgeSoak(flat[:1], 0).Growth, "too few samples to judge")
}
