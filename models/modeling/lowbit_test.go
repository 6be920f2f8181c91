package modeling

import (
	"math"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// TestKeptBlocksMatchGGUF checks each GGML block type kept as codes
// (weights.Blocks, Params.SetBlocks) against the gguf package's dequantize
// (models/weights/testdata/blocks.gguf, scripts/reference/gguf_blocks.py):
// the weight a graph dequantizes whole and the rows an embedding lookup
// dequantizes equal it bit for bit, and a product taken a row at a time
// (the slices a large head is multiplied in; chained one after the other,
// as in graphs never differentiated, and not) equals the product by it;
// Params.Weights, which models save, gives the float32 values back.
func TestKeptBlocksMatchGGUF(t *testing.T) {
	backend := golden.Backend(t)
	const path = "../weights/testdata/blocks.gguf"
	set, info, err := weights.ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { productSliceElements = n }(productSliceElements)
	productSliceElements = 1 // one row per slice
	ids := []int32{3, 0, 2, 3}
	x := make([]float32, 2*512)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	for _, name := range []string{"q8_0", "q4_0", "q4_1", "q5_0", "q4_k", "q6_k", "q4_k,chained", "q6_k,chained"} {
		name, chained := strings.CutSuffix(name, ",chained")
		t.Run(name, func(t *testing.T) {
			want, err := set.Float32Values(name+".expected", 4, 512)
			if err != nil {
				t.Fatal(err)
			}
			b, err := info.ReadBlocks(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := NewParams()
			if err := p.SetBlocks("w", b); err != nil {
				t.Fatal(err)
			}
			if err := p.MoveToDevice(backend); err != nil {
				t.Fatal(err)
			}
			exec, err := p.NewExec(backend, func(in []*Node) []*Node {
				g := in[0].Graph()
				if chained {
					g.AttachState(inferenceGraph{}, true)
				}
				w := p.Node(g, "w")
				return []*Node{w, Embed(p.Node(g, "w"), in[0]), Linear(in[1], w, nil)}
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Call(tensors.FromFlatDataAndDimensions(ids, 2, 2), tensors.FromFlatDataAndDimensions(x, 2, 512))
			if err != nil {
				t.Fatal(err)
			}
			whole, rows, product := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
			for i := range want {
				if math.Float32bits(whole[i]) != math.Float32bits(want[i]) {
					t.Fatalf("value [%d, %d]: graph %v, gguf %v", i/512, i%512, whole[i], want[i])
				}
			}
			saved, err := p.Weights()
			if err != nil {
				t.Fatal(err)
			}
			if names := saved.Names(); len(names) != 1 || names[0] != "w" {
				t.Errorf("Weights gives %v, want [w]", names)
			}
			if values, err := saved.Float32Values("w", 4, 512); err != nil || !slices.Equal(values, want) {
				t.Errorf("Weights gives other values than gguf's (%v)", err)
			}
			for i, id := range ids {
				for c := range 512 {
					if got, w := rows[i*512+c], want[int(id)*512+c]; got != w {
						t.Fatalf("lookup %d (row %d) column %d: %v, gguf %v", i, id, c, got, w)
					}
				}
			}
			for n := range 2 {
				for r := range 4 {
					var sum float64
					for c := range 512 {
						sum += float64(x[n*512+c]) * float64(want[r*512+c])
					}
					if d := math.Abs(float64(product[n*4+r]) - sum); d > 1e-4*max(1, math.Abs(sum)) {
						t.Errorf("product [%d, %d]: %v, want %v", n, r, product[n*4+r], sum)
					}
				}
			}
		})
	}
}
