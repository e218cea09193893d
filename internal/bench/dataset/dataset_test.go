package dataset

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParams(t *testing.T) {
	tests := []struct {
		name string
		q    string
		want []any
	}{
		{"none", `DELETE FROM mutation_log`, []any{}},
		{"the first", `DELETE FROM messages WHERE conversation_id LIKE $1 || 'conv%'`, []any{"p"}},
		{"up to the highest named", `SELECT $1, $3::int, $1`, []any{"p", 1, 2}},
		{"no more than given", `SELECT $9`, []any{"p", 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, params(tt.q, "p", 1, 2, 3))
		})
	}
}

// TestSeedRefusesForeignPrefix: the prefix is checked before the
// database is touched (the pool here is nil).
func TestSeedRefusesForeignPrefix(t *testing.T) {
	require.ErrorContains(t, Seed(context.Background(), nil, Group{Prefix: "demo", Convs: 1}), `does not start with "bench"`)
	require.ErrorContains(t, SeedIdle(context.Background(), nil, IdleGroup{Prefix: "x", Convs: 1, PerCustomer: 1}), `does not start with "bench"`)
}
