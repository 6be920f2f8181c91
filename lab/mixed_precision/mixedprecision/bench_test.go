package mixedprecision

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// BenchmarkMatMul times one matrix product x·wᵀ, float32 operands in and a
// float32 result out, with the operands converted to each precision inside
// the graph (as the mixed-precision forward does), on every CPU backend
// present. The shapes are the Shakespeare model's MLP projections at batch
// 12×64 and a larger one; the figure to compare is ns/op, and GFLOP/s is
// reported beside it.
//
//	go test ./lab/mixed_precision/mixedprecision -run '^$' -bench MatMul
func BenchmarkMatMul(b *testing.B) {
	for _, spec := range []string{"go", "onnx:cpu"} {
		backend, err := xla.New(spec)
		if err != nil {
			b.Logf("%s: %v", spec, err)
			continue
		}
		for _, s := range [][3]int{{768, 128, 512}, {768, 512, 128}, {2048, 1024, 1024}} {
			m, k, n := s[0], s[1], s[2]
			x := tensors.FromShape(shapes.Make(dtypes.Float32, m, k))
			w := tensors.FromShape(shapes.Make(dtypes.Float32, n, k))
			for _, p := range []string{"float32", "bfloat16", "float16"} {
				dtype, _ := training.ParsePrecision(p)
				b.Run(fmt.Sprintf("%s/%dx%dx%d/%s", spec, m, k, n, p), func(b *testing.B) {
					exec, err := NewExec(backend, func(x, w *Node) *Node {
						if dtype == dtypes.Float32 {
							return Einsum("ni,oi->no", x, w)
						}
						return ConvertDType(Einsum("ni,oi->no", ConvertDType(x, dtype), ConvertDType(w, dtype)), dtypes.Float32)
					})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := exec.Exec(x, w); err != nil {
						b.Skipf("%s has no %s product: %s", spec, p, firstLine(err))
					}
					b.ResetTimer()
					for range b.N {
						out, err := exec.Exec(x, w)
						if err != nil {
							b.Fatal(err)
						}
						out[0].FinalizeAll()
					}
					b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
		backend.Finalize()
	}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.Index(s, "dtype "); i >= 0 {
		s = s[i:]
	}
	return strings.SplitN(s, "\n", 2)[0]
}
