package vips_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/media"
	"github.com/parley-chat/parley/media/vips"
)

// benchInputs is the directory of the 12-megapixel inputs that
// TestWriteBenchInputs writes and BenchmarkProcess12MP reads: written by
// one process and read by others, so each benchmark's peak RSS is its
// own, not the encoder's that made its input (`make bench-media`).
var benchInputs = flag.String("bench-inputs", "", "directory of the 12 MP benchmark inputs (make bench-media)")

// The inputs: 4000×3000 with a photo's detail (about 5 MB as JPEG).
const benchW, benchH = 4000, 3000

func TestWriteBenchInputs(t *testing.T) {
	if *benchInputs == "" {
		t.Skip("-bench-inputs not set (make bench-media sets it)")
	}
	img := testimages.Textured(benchW, benchH, 42)
	require.NoError(t, os.MkdirAll(*benchInputs, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(*benchInputs, "12mp.jpeg"), testimages.JPEG(img, 90), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(*benchInputs, "12mp.png"), testimages.PNG(img), 0o644))
}

// BenchmarkProcess12MP processes a 12-megapixel JPEG or PNG into the
// stored WebP (long edge 1600) and its thumbnail, as uploads are, with 1
// or 2 images at once. It reports images/s, ms per image (wall time of
// one image while c run together), CPU ms per image (the cost on one
// core, whatever else the machine runs), and the process's peak RSS
// (VmHWM), which is why each case runs in a process of its own under
// make bench-media.
func BenchmarkProcess12MP(b *testing.B) {
	if *benchInputs == "" {
		b.Skip("-bench-inputs not set: run make bench-media")
	}
	p, err := vips.New(vips.Config{})
	require.NoError(b, err)
	for _, in := range []string{"jpeg", "png"} {
		for _, c := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/c=%d", in, c), func(b *testing.B) {
				src, err := os.ReadFile(filepath.Join(*benchInputs, "12mp."+in))
				require.NoError(b, err)
				h, err := media.ReadHeader(src)
				require.NoError(b, err)
				require.Equal(b, int64(benchW*benchH), h.Pixels())
				job := media.Job{Src: src, Header: h, Format: media.WebP, Quality: 80, MaxEdge: 1600, ThumbEdge: 320,
					MaxDecodedPixels: h.Pixels()}
				b.ReportAllocs()
				b.SetBytes(int64(len(src)))
				var next sync.Mutex
				left := b.N
				cpu0 := cpuTime(b)
				start := time.Now()
				b.ResetTimer()
				var wg sync.WaitGroup
				for range c {
					wg.Go(func() {
						for {
							next.Lock()
							if left == 0 {
								next.Unlock()
								return
							}
							left--
							next.Unlock()
							out, err := p.Process(context.Background(), job)
							if err != nil {
								b.Error(err)
								return
							}
							if out.Image.Width != 1600 || out.Thumb.Width != 320 {
								b.Errorf("got %dx%d and %dx%d", out.Image.Width, out.Image.Height, out.Thumb.Width, out.Thumb.Height)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				elapsed := time.Since(start)
				cpu := cpuTime(b) - cpu0
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "images/s")
				b.ReportMetric(float64(elapsed.Milliseconds())*float64(c)/float64(b.N), "ms/image")
				// CPU time per image: what one core spends on it, whatever
				// else the machine is doing.
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/image")
				b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MB")
				_, vipsPeak := vips.Memory()
				b.ReportMetric(float64(vipsPeak)/(1<<20), "vips-peak-MB")
				b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's resident-set high-water mark, in bytes.
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Skip("no VmHWM in /proc/self/status")
	return 0
}
