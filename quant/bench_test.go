package quant

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/nn"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// BenchmarkDecodeMatVec measures what one decoding step of GPT-2 small's MLP
// costs per weight format: 24 chained products of a [1, 768] activation
// with a [3072, 768] weight (~226 MB of float32), each format's weights
// resident on the backend. "f32" is the float product; "int8", "int4",
// "nf4" dequantize in the graph as this package does; "q8_0-fused" is
// GoMLX's fused GGML kernel (nn.QuantizedDense, go backend only). The
// reported GB/s is float32-equivalent: 226 MB over the time per step.
//
//	TRUSTFORMERS_BENCH_BACKEND=onnx:cpu go test -run - -bench DecodeMatVec ./quant/
func BenchmarkDecodeMatVec(b *testing.B) {
	backend, spec := golden.BenchBackend(b)
	const K, N, layers = 768, 3072, 24
	// Distinct weights per layer: one weight used 24 times would stay in
	// the caches and measure them, not memory.
	ws := make([][]float32, layers)
	for l := range ws {
		ws[l] = normal(N*K, 0.02, uint64(10+l))
	}
	x := tensors.FromFlatDataAndDimensions(normal(K, 1, 2), 1, K)
	formats := []string{"f32", "int8", "int4", "nf4"}
	if spec == "go" {
		formats = append(formats, "q8_0-fused")
	}
	for _, format := range formats {
		b.Run(fmt.Sprintf("%s/%s", spec, format), func(b *testing.B) {
			// stored are each layer's tensors (per of them per layer);
			// layer builds one product from a layer's inputs.
			var stored []*tensors.Tensor
			var layer func(x *Node, in []*Node) *Node
			per := 1
			for _, w := range ws {
				switch format {
				case "f32":
					stored = append(stored, tensors.FromFlatDataAndDimensions(w, N, K))
					layer = func(x *Node, in []*Node) *Node { return Einsum("mk,nk->mn", x, in[0]) }
				case "q8_0-fused":
					var q8 []byte
					for r := range N {
						q8 = append(q8, weights.QuantizeQ8_0(w[r*K:(r+1)*K])...)
					}
					stored = append(stored, tensors.FromFlatDataAndDimensions(q8, N, len(q8)/N))
					layer = func(x *Node, in []*Node) *Node {
						return nn.QuantizedDense(x, in[0], &Quantization{Scheme: compute.QuantGGML, GGMLType: compute.GGMLQ8_0}, nil)
					}
				default:
					cfg := Config{Scheme: Scheme(format), GroupSize: 64}
					t, err := Quantize(w, N, K, cfg.Scheme, cfg.GroupSize, false)
					if err != nil {
						b.Fatal(err)
					}
					parts := t.storedTensors()
					suffixes := []string{"", suffixScale, suffixZero}
					per = 0
					for _, s := range suffixes {
						if p, ok := parts[s]; ok {
							stored = append(stored, p)
							per++
						}
					}
					layout := t.Layout
					layer = func(x *Node, in []*Node) *Node {
						get := map[string]*Node{"": in[0], suffixScale: in[1]}
						if len(in) > 2 {
							get[suffixZero] = in[2]
						}
						return Einsum("mk,nk->mn", x, dequantize(in[0], &layout, func(s string) *Node { return get[s] }))
					}
				}
			}
			exec, err := NewExec(backend, func(in []*Node) *Node {
				h := in[0]
				for l := range layers {
					// Each product feeds the next, so none can be shared.
					h = MulScalar(Slice(layer(h, in[1+l*per:1+(l+1)*per]), AxisRange(), AxisRange(0, K)), 0.1)
				}
				return ReduceAllSum(h)
			})
			if err != nil {
				b.Fatal(err)
			}
			args := []any{x}
			for _, t := range stored {
				if err := t.MaterializeOnDevice(backend, false, 0); err != nil {
					b.Fatal(err)
				}
				args = append(args, t)
			}
			if _, err := exec.Exec(args...); err != nil { // compile and warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := exec.Exec(args...); err != nil {
					b.Fatal(err)
				}
			}
			perStep := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(layers*N*K*4)/perStep/1e9, "GB/s-f32")
			b.ReportMetric(perStep*1000, "ms/step")
		})
	}
}
