package modeling

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
)

// BenchmarkDecodeStepParts measures the parts of a GPT-2 small decoding
// step at batch 1 on one engine, as docs/benchmarks.md reports them:
//
//   - "linears": the 48 block projections ([B, 1, 768] activations for
//     batches of 1 and 8, as in decoding; 340 MB of
//     distinct float32 weights), with whole weights ("whole") and with the
//     row blocks Params.SplitRows makes on the go backend ("blocks");
//   - "head": the tied LM head (50,257 × 768, 154 MB), whole and in blocks;
//   - "embed": one token's embedding lookup in the same table, by Gather
//     ("gather") and as Embed does it ("embed": one DynamicSlice per id on
//     ONNX Runtime, the Gather elsewhere).
//
// TRUSTFORMERS_BENCH_BACKEND picks the engine (default go):
//
//	TRUSTFORMERS_BENCH_BACKEND=onnx:cpu go test -run - -bench DecodeStepParts ./models/modeling/
func BenchmarkDecodeStepParts(b *testing.B) {
	backend, spec := golden.BenchBackend(b)
	rng := rand.New(rand.NewPCG(1, 2))
	normal := func(dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.02)
		}
		return tensors.FromFlatDataAndDimensions(data, dims...)
	}
	// The same weights twice: whole, and in the go backend's row blocks.
	whole, blocked := NewParams(), NewParams()
	add := func(name string, t *tensors.Tensor) {
		clone, err := t.LocalClone()
		if err == nil {
			err = errors.Join(whole.Set(name, t), blocked.Set(name, clone))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	names := []string{"wte"}
	add("wte", normal(50257, 768))
	for l := range 12 {
		for _, w := range []struct {
			name    string
			out, in int
		}{{"c_attn", 2304, 768}, {"attn_proj", 768, 768}, {"c_fc", 3072, 768}, {"mlp_proj", 768, 3072}} {
			name := fmt.Sprintf("h.%d.%s", l, w.name)
			add(name, normal(w.out, w.in))
			names = append(names, name)
		}
	}
	if err := blocked.SplitRows(GoRowBlockElements, names...); err != nil {
		b.Fatal(err)
	}
	for _, p := range []*Params{whole, blocked} {
		if err := p.MoveToDevice(backend); err != nil {
			b.Fatal(err)
		}
	}
	xs := map[int]*tensors.Tensor{1: normal(1, 1, 768), 8: normal(8, 1, 768)}
	run := func(b *testing.B, p *Params, fn func(g *Graph, x *Node) *Node, arg *tensors.Tensor) {
		exec, err := p.NewExec(backend, func(in []*Node) []*Node { return []*Node{fn(in[0].Graph(), in[0])} })
		if err != nil {
			b.Fatal(err)
		}
		if _, err := exec.Call(arg); err != nil { // compile and warm up
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := exec.Call(arg); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1000, "ms/op")
	}
	linears := func(p *Params) func(g *Graph, x *Node) *Node {
		return func(g *Graph, x *Node) *Node {
			for l := range 12 {
				w := func(n string) *Node { return p.Node(g, fmt.Sprintf("h.%d.%s", l, n)) }
				qkv := Linear(x, w("c_attn"), nil)
				x = Add(x, Linear(Slice(qkv, AxisRange(), AxisRange(), AxisRange(0, 768)), w("attn_proj"), nil))
				x = Add(x, Linear(Linear(x, w("c_fc"), nil), w("mlp_proj"), nil))
			}
			return x
		}
	}
	for _, batch := range []int{1, 8} {
		x := xs[batch]
		b.Run(fmt.Sprintf("%s/b%d/linears/whole", spec, batch), func(b *testing.B) { run(b, whole, linears(whole), x) })
		b.Run(fmt.Sprintf("%s/b%d/linears/blocks", spec, batch), func(b *testing.B) { run(b, blocked, linears(blocked), x) })
		b.Run(fmt.Sprintf("%s/b%d/head/whole", spec, batch), func(b *testing.B) {
			run(b, whole, func(g *Graph, x *Node) *Node { return Linear(x, whole.Node(g, "wte"), nil) }, x)
		})
		b.Run(fmt.Sprintf("%s/b%d/head/blocks", spec, batch), func(b *testing.B) {
			run(b, blocked, func(g *Graph, x *Node) *Node { return Linear(x, blocked.Node(g, "wte"), nil) }, x)
		})
	}
	ids := tensors.FromFlatDataAndDimensions([]int32{17}, 1, 1)
	b.Run(spec+"/embed/gather", func(b *testing.B) {
		run(b, whole, func(g *Graph, ids *Node) *Node { return Gather(whole.Node(g, "wte"), ExpandAxes(ids, -1)) }, ids)
	})
	b.Run(spec+"/embed/embed", func(b *testing.B) {
		run(b, whole, func(g *Graph, ids *Node) *Node { return Embed(whole.Node(g, "wte"), ids) }, ids)
	})
}

// BenchmarkMemoryRead is decoding's roofline on this machine: how fast one
// goroutine per core reads 512 MB (about what a GPT-2 small token reads in
// float32) with a vectorized scan, bytes.IndexByte over bytes that never
// match. It reports MB/s.
//
//	go test -run - -bench MemoryRead ./models/modeling/
func BenchmarkMemoryRead(b *testing.B) {
	const size = 512 << 20
	data := bytes.Repeat([]byte{1}, size)
	workers := runtime.GOMAXPROCS(0)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		n := size / workers
		for w := range workers {
			wg.Go(func() { _ = bytes.IndexByte(data[w*n:(w+1)*n], 7) })
		}
		wg.Wait()
	}
}
