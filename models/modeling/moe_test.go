package modeling

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
)

// moeInputs are random experts (E=8, d=dim, I=2·dim), tokens x [n, d] and
// a router's choice of 2 distinct experts per token with their weights.
func moeInputs(n, dim int) (x, gateUp, down, weights, experts *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(3, 4))
	normal := func(dims ...int) *tensors.Tensor {
		size := 1
		for _, d := range dims {
			size *= d
		}
		data := make([]float32, size)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.05)
		}
		return tensors.FromFlatDataAndDimensions(data, dims...)
	}
	chosen, w := make([]int32, 0, 2*n), make([]float32, 0, 2*n)
	for range n {
		perm := rng.Perm(8)
		p := rng.Float32()
		chosen, w = append(chosen, int32(perm[0]), int32(perm[1])), append(w, p, 1-p)
	}
	return normal(n, dim), normal(8, 4*dim, dim), normal(8, dim, 2*dim),
		tensors.FromFlatDataAndDimensions(w, n, 2), tensors.FromFlatDataAndDimensions(chosen, n, 2)
}

// The two formulations of SparseExperts, every expert on every token and
// each token's chosen experts gathered, give the same outputs.
func TestSparseExpertsFormulationsAgree(t *testing.T) {
	backend := golden.Backend(t)
	for _, n := range []int{1, 3, 9} {
		x, gateUp, down, weights, experts := moeInputs(n, 16)
		var outs []*tensors.Tensor
		for _, f := range []func(x, gateUp, down, weights, experts *Node, act func(*Node) *Node) *Node{denseExperts, gatheredExperts} {
			out, err := ExecOnce(backend, func(in []*Node) *Node { return f(in[0], in[1], in[2], in[3], in[4], SiLU) }, x, gateUp, down, weights, experts)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
		}
		if d, _, err := golden.MaxAbsDiff(outs[0], outs[1]); err != nil || d > 1e-6 {
			t.Errorf("%d tokens: dense and gathered experts differ by %g (%v)", n, d, err)
		}
	}
}

// BenchmarkSparseExperts times the two formulations of SparseExperts on one
// mixture-of-experts layer of 8 experts, 2 per token, d=512 and I=1024
// (50 MB of float32 experts), for 1 and 2 tokens (decoding at batch 1 and
// 2: fewer choices than experts) and 64 (a prompt), as docs/benchmarks.md
// reports them. TRUSTFORMERS_BENCH_BACKEND picks the engine (default go):
//
//	TRUSTFORMERS_BENCH_BACKEND=onnx:cpu go test -run - -bench SparseExperts ./models/modeling/
func BenchmarkSparseExperts(b *testing.B) {
	backend, spec := golden.BenchBackend(b)
	for _, n := range []int{1, 2, 64} {
		x, gateUp, down, weights, experts := moeInputs(n, 512)
		args := []any{x, gateUp, down, weights, experts}
		for _, t := range []*tensors.Tensor{gateUp, down} {
			if err := t.MaterializeOnDevice(backend, false, 0); err != nil {
				b.Fatal(err)
			}
		}
		for name, f := range map[string]func(x, gateUp, down, weights, experts *Node, act func(*Node) *Node) *Node{
			"dense": denseExperts, "gathered": gatheredExperts} {
			b.Run(fmt.Sprintf("%s/tokens%d/%s", spec, n, name), func(b *testing.B) {
				exec, err := NewExec(backend, func(in []*Node) *Node { return f(in[0], in[1], in[2], in[3], in[4], SiLU) })
				if err != nil {
					b.Fatal(err)
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
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1000, "ms/op")
			})
		}
	}
}
