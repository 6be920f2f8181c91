package weights

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestGGUFDequantizeGemma3 reads one tensor of each type the real Gemma 3
// 270M Q4_K_M file holds (F32, Q5_0, Q4_K, Q8_0, Q6_K) and compares
// ReadGGUF's float32 values with the gguf Python package's dequantize
// (scripts/reference/gemma3_270m.py): the first two rows value for value,
// and the whole tensor's sum and sum of squares.
func TestGGUFDequantizeGemma3(t *testing.T) {
	set, info, err := ReadGGUF(assets.RequireModel(t, assets.Gemma3))
	if err != nil {
		t.Fatal(err)
	}
	ref, types, err := ReadSafetensorsWithMetadata(filepath.Join("..", "testdata", "gemma3-270m", "dequant.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/gemma3_270m.py)", err)
	}
	seen := map[string]bool{}
	for _, name := range []string{"output_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_output.weight",
		"blk.0.attn_v.weight", "blk.0.ffn_down.weight"} {
		ti, ok := info.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %q", name)
		}
		if ti.Type.String() != types[name] {
			t.Errorf("%s: type %s, the gguf package says %s", name, ti.Type, types[name])
		}
		seen[types[name]] = true
		got, err := set.Float32Values(name, ti.Dims...)
		if err != nil {
			t.Fatal(err)
		}
		checkDequantized(t, name, got, ref)
	}
	for _, typ := range []string{"F32", "Q5_0", "Q4_K", "Q8_0", "Q6_K"} {
		if !seen[typ] {
			t.Errorf("no tensor of type %s checked", typ)
		}
	}
}

// checkDequantized compares the dequantized values of tensor name with the
// reference's first rows (name.rows, to within float32 rounding) and its
// sums (name.sums: the sum and the sum of squares).
func checkDequantized(t *testing.T, name string, got []float32, ref *Set) {
	t.Helper()
	rt, ok := ref.Get(name + ".rows")
	if !ok {
		t.Fatalf("reference has no %s.rows", name)
	}
	rows := tensors.MustCopyFlatData[float32](rt)
	worst := 0.0
	for i, want := range rows {
		d := math.Abs(float64(got[i]-want)) / max(math.Abs(float64(want)), 1e-3)
		worst = max(worst, d)
	}
	if worst > 1e-6 {
		t.Errorf("%s: first %d values differ from the gguf package's by up to %.2g (relative)", name, len(rows), worst)
	}
	sums, ok := ref.Get(name + ".sums")
	if !ok {
		t.Fatalf("reference has no %s.sums", name)
	}
	want := slices.Clone(tensors.MustCopyFlatData[float64](sums))
	var sum, squares float64
	for _, v := range got {
		sum += float64(v)
		squares += float64(v) * float64(v)
	}
	if math.Abs(sum-want[0]) > 1e-6*want[1] || math.Abs(squares-want[1]) > 1e-9*want[1] {
		t.Errorf("%s: sum %v and sum of squares %v; the gguf package's %v and %v", name, sum, squares, want[0], want[1])
	}
	t.Logf("%s: %d values, first rows within %.2g, sum of squares %.6g", name, len(got), worst, squares)
}
