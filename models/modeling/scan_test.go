package modeling

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
)

// TestLinearScanModes checks every scan mode against the recurrence
// computed step by step on the host, for lengths that exercise the
// associative scan's odd and even levels, with a start state.
func TestLinearScanModes(t *testing.T) {
	backend := golden.Backend(t)
	const batch, width = 2, 3
	for _, steps := range []int{1, 2, 3, 4, 5, 8, 13} {
		rng := rand.New(rand.NewPCG(uint64(steps), 7))
		a, b := make([]float32, batch*steps*width), make([]float32, batch*steps*width)
		h0 := make([]float32, batch*width)
		for i := range a {
			a[i], b[i] = float32(0.5+0.5*rng.Float64()), float32(rng.NormFloat64())
		}
		for i := range h0 {
			h0[i] = float32(rng.NormFloat64())
		}
		want := make([]float32, len(a))
		for r := range batch {
			for k := range width {
				h := h0[r*width+k]
				for s := range steps {
					i := (r*steps+s)*width + k
					h = a[i]*h + b[i]
					want[i] = h
				}
			}
		}
		for _, mode := range []ScanMode{ScanAuto, ScanLoop, ScanUnrolled, ScanParallel} {
			out, err := ExecOnce(backend, func(a, b, h0 *Node) *Node { return LinearScan(a, b, h0, mode) },
				tensors.FromFlatDataAndDimensions(a, batch, steps, width), tensors.FromFlatDataAndDimensions(b, batch, steps, width),
				tensors.FromFlatDataAndDimensions(h0, batch, width))
			if err != nil {
				t.Fatalf("%d steps, %v: %v", steps, mode, err)
			}
			got := tensors.MustCopyFlatData[float32](out)
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5 {
					t.Errorf("%d steps, %v: state %d = %v, want %v", steps, mode, i, got[i], want[i])
					break
				}
			}
		}
	}
}

// TestScanModeFor checks which mode each CPU engine runs: the sequential
// scan that docs/benchmarks.md measured fastest, in a While loop where the
// engine has one.
func TestScanModeFor(t *testing.T) {
	backend, spec := golden.Backend(t), os.Getenv("TRUSTFORMERS_TEST_BACKEND")
	want := ScanLoop
	if strings.HasPrefix(spec, "onnx") {
		want = ScanUnrolled
	}
	if got := ScanAuto.For(backend); got != want {
		t.Errorf("%s: ScanAuto runs as %v, want %v", backend, got, want)
	}
	if got := ScanParallel.For(backend); got != ScanParallel {
		t.Errorf("%s: ScanParallel runs as %v", backend, got)
	}
}

func TestParseScanMode(t *testing.T) {
	for _, m := range []ScanMode{ScanAuto, ScanLoop, ScanUnrolled, ScanParallel} {
		if got, err := ParseScanMode(m.String()); err != nil || got != m {
			t.Errorf("ParseScanMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseScanMode("fast"); err == nil {
		t.Error("ParseScanMode(\"fast\"): no error")
	}
}

// BenchmarkLinearScan measures LinearScan alone on Mamba-130m's state
// shape ([1, T, 1536, 16]) on the engine TRUSTFORMERS_BENCH_BACKEND names.
func BenchmarkLinearScan(b *testing.B) {
	backend, spec := golden.BenchBackend(b)
	for _, steps := range []int{64, 128, 256, 512} {
		n := steps * 1536 * 16
		a, x := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], x[i] = 0.9, 0.1
		}
		at, xt := tensors.FromFlatDataAndDimensions(a, 1, steps, 1536, 16), tensors.FromFlatDataAndDimensions(x, 1, steps, 1536, 16)
		h0 := tensors.FromFlatDataAndDimensions(make([]float32, 1536*16), 1, 1536, 16)
		for _, mode := range []ScanMode{ScanLoop, ScanUnrolled, ScanParallel} {
			b.Run(fmt.Sprintf("%s/T=%d/%v", spec, steps, mode), func(b *testing.B) {
				e := MustNewExec(backend, func(a, b, h0 *Node) *Node {
					return ReduceSum(LinearScan(a, b, h0, mode), -1)
				})
				start := time.Now()
				e.MustExec(at, xt, h0)[0].FinalizeAll()
				compile := time.Since(start)
				b.ResetTimer()
				for b.Loop() {
					e.MustExec(at, xt, h0)[0].FinalizeAll()
				}
				b.ReportMetric(compile.Seconds(), "compile-s")
			})
		}
	}
}
