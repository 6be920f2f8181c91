package modeling

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/xla"
)

func TestAllowedKeys(t *testing.T) {
	b, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	valid := tensors.FromFlatDataAndDimensions([]int32{1, 1, 1, 1, 0}, 1, 5)
	for _, tc := range []struct {
		causal bool
		window int
		want   string // rows = queries 0..4, columns = keys 0..4
	}{
		{true, 0, "10000 11000 11100 11110 11110"},
		{true, 2, "10000 11000 01100 00110 00010"}, // each query sees itself and one key before it
		{false, 0, "11110 11110 11110 11110 11110"},
	} {
		out, err := ExecOnce(b, func(valid *Node) *Node {
			q := Iota(valid.Graph(), shapes.Make(dtypes.Int32, 5), 0)
			return ConvertDType(AllowedKeys(q, 5, valid, tc.causal, tc.window), dtypes.Int32)
		}, valid)
		if err != nil {
			t.Fatal(err)
		}
		flat := tensors.MustCopyFlatData[int32](out)
		var rows []string
		for q := range 5 {
			var r strings.Builder
			for k := range 5 {
				fmt.Fprint(&r, flat[q*5+k])
			}
			rows = append(rows, r.String())
		}
		if got := strings.Join(rows, " "); got != tc.want {
			t.Errorf("causal=%v window=%d: allowed %s, want %s", tc.causal, tc.window, got, tc.want)
		}
	}
}

func TestRotaryInvFreq(t *testing.T) {
	inv, err := RotaryInvFreq(8, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{1, 0.1, 0.01, 0.001} {
		if math.Abs(inv[i]-want)/want > 1e-6 {
			t.Errorf("inv_freq[%d] = %g, want %g", i, inv[i], want)
		}
	}
	// Llama 3 scaling with original length 16: wavelength 2π lies between 16/4 and 16 (smoothed);
	// 20π, 200π and 2000π exceed 16 (divided by 8). None is under 4, so none is kept as is.
	s := &RopeScaling{RopeType: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 16}
	scaled, err := RotaryInvFreq(8, 10000, s)
	if err != nil {
		t.Fatal(err)
	}
	smooth := (16/(2*math.Pi) - 1) / 3
	for i, want := range []float64{(1-smooth)/8 + smooth, 0.1 / 8, 0.01 / 8, 0.001 / 8} {
		if math.Abs(scaled[i]-want)/want > 1e-6 {
			t.Errorf("llama3 inv_freq[%d] = %g, want %g", i, scaled[i], want)
		}
	}
	if _, err := RotaryInvFreq(8, 10000, &RopeScaling{RopeType: "yarn"}); err == nil || !strings.Contains(err.Error(), "yarn") {
		t.Errorf("unsupported rope type: err = %v", err)
	}
	if _, err := RotaryInvFreq(7, 10000, nil); err == nil {
		t.Error("odd head dimension accepted")
	}
}

// TestAttendSoftCap checks the soft-capped attention of one query over two
// keys against the formula computed here in float64: scores s·scale, capped
// to c·tanh(s·scale/c), softmax, weights times values.
func TestAttendSoftCap(t *testing.T) {
	b, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	q := []float32{3, 1}
	k := []float32{2, 0, -1, 4}
	v := []float32{1, 10, -2, 5}
	const scale, softCap = 0.7, 2.0
	var scores [2]float64
	for j := range 2 {
		dot := float64(q[0])*float64(k[2*j]) + float64(q[1])*float64(k[2*j+1])
		scores[j] = softCap * math.Tanh(dot*scale/softCap)
	}
	p0 := 1 / (1 + math.Exp(scores[1]-scores[0]))
	want := []float64{p0*float64(v[0]) + (1-p0)*float64(v[2]), p0*float64(v[1]) + (1-p0)*float64(v[3])}
	out, err := ExecOnce(b, func(q, k, v *Node) *Node {
		allowed := GreaterOrEqual(Ones(q.Graph(), shapes.Make(dtypes.Int32, 1, 1, 1, 2)), ScalarZero(q.Graph(), dtypes.Int32))
		o, _ := Scope{}.AttendWith(q, k, v, allowed, AttendOptions{Scale: scale, SoftCap: softCap})
		return o
	}, tensors.FromFlatDataAndDimensions(q, 1, 1, 1, 2), tensors.FromFlatDataAndDimensions(k, 1, 1, 2, 2), tensors.FromFlatDataAndDimensions(v, 1, 1, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Fatalf("soft-capped attention = %v, want %v", got, want)
		}
	}
}
