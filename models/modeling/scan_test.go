package modeling

import (
	"math"
	"math/rand/v2"
	"testing"

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
