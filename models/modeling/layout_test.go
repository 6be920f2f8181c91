package modeling

import (
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// TestSplitRows checks the row-block layout against the whole weight:
// products with 1 to 5 rows (padded to multiples of 4 inside), lookups
// falling in every block, saving, joining, and the other weights untouched
// (on TRUSTFORMERS_TEST_BACKEND; make test runs both CPU engines).
func TestSplitRows(t *testing.T) {
	b := golden.Backend(t)
	w := make([]float32, 10*3)
	for i := range w {
		w[i] = float32(i%7) - 2.5
	}
	p := NewParams()
	if err := p.Set("w", tensors.FromFlatDataAndDimensions(slices.Clone(w), 10, 3)); err != nil {
		t.Fatal(err)
	}
	if err := p.Set("bias", tensors.FromFlatDataAndDimensions([]float32{1, 2, 3}, 3)); err != nil {
		t.Fatal(err)
	}
	if err := p.MoveToDevice(b); err != nil {
		t.Fatal(err)
	}
	// ids and activations for 1..5 rows
	compute := func() (products, lookups []*tensors.Tensor) {
		for n := 1; n <= 5; n++ {
			x := make([]float32, n*3)
			ids := make([]int32, n)
			for i := range x {
				x[i] = float32(i) * 0.25
			}
			for i := range ids {
				ids[i] = int32((3*i + 9) % 10)
			}
			exec, err := p.NewExec(b, func(in []*Node) []*Node {
				g := in[0].Graph()
				return []*Node{Linear(in[0], p.Node(g, "w"), nil), Embed(p.Node(g, "w"), in[1])}
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Call(tensors.FromFlatDataAndDimensions(x, n, 3), tensors.FromFlatDataAndDimensions(ids, 1, n))
			if err != nil {
				t.Fatal(err)
			}
			products, lookups = append(products, out[0]), append(lookups, out[1])
		}
		return
	}
	wantProducts, wantLookups := compute()

	if err := p.SplitRows(6, "w", "bias", "absent"); err != nil {
		t.Fatal(err)
	}
	if got := p.RowBlocks("w"); got != 3 { // 4 + 4 + 2 rows
		t.Fatalf("w is in %d blocks, want 3", got)
	}
	if p.RowBlocks("bias") != 0 || !p.Has("w") || !slices.Equal(p.Dims("w"), []int{10, 3}) || !slices.Equal(p.Names(), []string{"bias", "w"}) {
		t.Fatalf("after SplitRows: bias blocks %d, has w %v, dims %v, names %v", p.RowBlocks("bias"), p.Has("w"), p.Dims("w"), p.Names())
	}
	gotProducts, gotLookups := compute()
	for i := range wantProducts {
		for _, c := range [][2]*tensors.Tensor{{gotProducts[i], wantProducts[i]}, {gotLookups[i], wantLookups[i]}} {
			got, want := tensors.MustCopyFlatData[float32](c[0]), tensors.MustCopyFlatData[float32](c[1])
			if !slices.Equal(got, want) {
				t.Errorf("%d rows: blocks give %v, the whole weight %v", i+1, got, want)
			}
		}
	}
	set, err := p.Weights()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := set.Float32("w", 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](saved); !slices.Equal(got, w) || p.RowBlocks("w") != 3 {
		t.Errorf("Weights gives %v (blocks left: %d), want %v", got, p.RowBlocks("w"), w)
	}
	v := p.Variable("w")
	if v == nil || p.RowBlocks("w") != 0 {
		t.Fatalf("Variable did not join the blocks (%d left)", p.RowBlocks("w"))
	}
	joined, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](joined); !slices.Equal(got, w) {
		t.Errorf("joined weight %v, want %v", got, w)
	}
}

// TestLoadSpecsTo checks that loading for decoding lays large matmul
// weights (by their roles) out in blocks on the go backend only (blocks the small kernel takes with up to 8
// rows), leaves the others whole, and puts every weight on the device.
func TestLoadSpecsTo(t *testing.T) {
	b := golden.Backend(t)
	set := weights.NewSet()
	set.Add("w", tensors.FromShape(shapes.Make(dtypes.Float32, 1000, 768)), "")
	set.Add("v", tensors.FromShape(shapes.Make(dtypes.Float32, 768, 1000)), "")
	specs := []Spec{{Name: "w", Dims: []int{1000, 768}, Role: RowParallel}, {Name: "v", Dims: []int{768, 1000}, Transpose: true}}
	p, err := LoadSpecsTo(b, set, specs, Checkpoint{Decoding: true})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	if b.String() == "go" {
		want = 2 // 680 + 320 rows: 680·768·8 multiply-adds stay under 4M
	}
	if got := p.RowBlocks("w"); got != want {
		t.Errorf("on %s: w is in %d blocks, want %d", b, got, want)
	}
	if p.RowBlocks("v") != 0 || !slices.Equal(p.Dims("v"), []int{1000, 768}) {
		t.Errorf("v: %d blocks, dims %v; want whole, transposed to [1000 768]", p.RowBlocks("v"), p.Dims("v"))
	}
	if want > 0 && 8*680*768 >= 4<<20 {
		t.Errorf("products of 8 rows by a block exceed the small-kernel threshold")
	}
	for _, name := range []string{"w", "v"} {
		if v, err := p.Variable(name).Value(); err != nil || !v.IsOnAnyDevice() {
			t.Errorf("%s is not on the device (err %v)", name, err)
		}
	}
}

// TestLoadSpecsToBlocksInOnePass checks that weights laid out in blocks on
// the go engine are read from a safetensors file into their blocks in one
// pass, transposed or not: the blocks hold the checkpoint's values, and
// loading allocates about the weights' size once (read whole, transposed,
// split and moved, it allocated four times that).
func TestLoadSpecsToBlocksInOnePass(t *testing.T) {
	b := golden.Backend(t)
	if b.String() != "go" {
		t.Skipf("blocks are the go engine's layout, not %s's", b)
	}
	const rows, cols = 1000, 768
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(i%9973) / 9973
	}
	src := weights.NewSet()
	src.Add("w", tensors.FromFlatDataAndDimensions(slices.Clone(w), rows, cols), "")
	src.Add("u", tensors.FromFlatDataAndDimensions(slices.Clone(w), cols, rows), "") // [in, out], as Conv1D
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := weights.WriteSafetensors(path, src, nil); err != nil {
		t.Fatal(err)
	}
	set, err := weights.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	specs := []Spec{{Name: "w", Dims: []int{rows, cols}, Role: RowParallel},
		{Name: "u", Dims: []int{cols, rows}, Transpose: true, Role: ColumnParallel}}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, err := LoadSpecsTo(b, set, specs, Checkpoint{Decoding: true})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(1.5*2*4*rows*cols); got > limit {
		t.Errorf("loading 2 weights of %.1f MB allocated %.1f MB; want at most %.1f MB (one pass)", 4.0*rows*cols/1e6, float64(got)/1e6, float64(limit)/1e6)
	}
	for _, tc := range []struct {
		name string
		want func(r, c int) float32
	}{
		{"w", func(r, c int) float32 { return w[r*cols+c] }},
		{"u", func(r, c int) float32 { return w[c*rows+r] }}, // laid out [out, in]
	} {
		if got := p.RowBlocks(tc.name); got != 2 {
			t.Errorf("%s: %d blocks, want 2", tc.name, got)
		}
		v, err := p.Variable(tc.name).Value()
		if err != nil {
			t.Fatal(err)
		}
		if dims := v.Shape().Dimensions; !slices.Equal(dims, []int{rows, cols}) {
			t.Fatalf("%s: dims %v, want [%d %d]", tc.name, dims, rows, cols)
		}
		got := tensors.MustCopyFlatData[float32](v)
		for r := range rows {
			for c := range cols {
				if got[r*cols+c] != tc.want(r, c) {
					t.Fatalf("%s[%d, %d] = %v, want %v", tc.name, r, c, got[r*cols+c], tc.want(r, c))
				}
			}
		}
	}
}
