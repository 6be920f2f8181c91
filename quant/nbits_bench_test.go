package quant

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
	onnx "github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/trustformers/trustformers-go/internal/golden"
	"google.golang.org/protobuf/proto"
)

// BenchmarkMatMulNBits measures ONNX Runtime's com.microsoft MatMulNBits
// against a float32 MatMul on GPT-2 small's MLP shapes: 12 pairs of
// [M, 768]·[768, 3072] and [M, 3072]·[3072, 768] products, chained, in a
// model built by hand (no GoMLX graph in between). Each format runs with
// its weights as initializers (which ONNX Runtime prepacks) and as graph
// inputs (as GoMLX passes variables), and the quantized ones at
// accuracy_level 0 (float activations) and 4 (int8 activations); int8
// also in blocks of 64, 128 and 256 ("int8b256") beside the route's
// int8Block.
//
//	TRUSTFORMERS_BENCH_BACKEND=onnx:cpu go test -run - -bench MatMulNBits ./quant/
func BenchmarkMatMulNBits(b *testing.B) {
	backend, spec := golden.BenchBackend(b)
	if !strings.HasPrefix(spec, "onnx") {
		b.Skipf("MatMulNBits is ONNX Runtime's: set TRUSTFORMERS_BENCH_BACKEND=onnx:cpu (got %s)", spec)
	}
	const d, ff, pairs = 768, 3072, 12
	var floats [][]float32 // fc, proj, fc, proj, ...: each [N, K] has N·K = d·ff values
	for l := range 2 * pairs {
		floats = append(floats, normal(d*ff, 0.02, uint64(100+l)))
	}
	for _, m := range []int{1, 8} {
		for _, format := range []string{"f32", "int8/acc0", "int8/acc4", "int8b64/acc4", "int8b128/acc4", "int8b256/acc4", "int4/acc0", "int4/acc4"} {
			for _, where := range []string{"init", "input"} {
				b.Run(fmt.Sprintf("M%d/%s/%s", m, format, where), func(b *testing.B) {
					scheme, acc, _ := strings.Cut(format, "/")
					model, weights, err := chainModel(floats, d, ff, m, scheme, acc == "acc4", where == "input")
					if err != nil {
						b.Fatal(err)
					}
					runModel(b, backend, model, weights, m, d)
				})
			}
		}
	}
}

// chainModel builds the chained products: each layer's weight is an
// initializer, or (asInput) a graph input whose value is returned.
func chainModel(floats [][]float32, d, ff, m int, scheme string, int8Acts, asInput bool) ([]byte, []*onnx.TensorProto, error) {
	g := &onnx.GraphProto{Name: "chain"}
	g.Input = append(g.Input, valueInfo("x", onnx.TensorProto_FLOAT, m, d))
	h := "x"
	var inputs []*onnx.TensorProto
	for l, w := range floats {
		n, k := ff, d
		if l%2 == 1 {
			n, k = d, ff
		}
		prefix, out := fmt.Sprintf("w%d", l), fmt.Sprintf("h%d", l)
		var ts []*onnx.TensorProto
		if scheme == "f32" {
			// MatMul takes [K, N]: the transpose of the [N, K] weight.
			wt := make([]float32, len(w))
			for r := range n {
				for c := range k {
					wt[c*n+r] = w[r*k+c]
				}
			}
			ts = []*onnx.TensorProto{floatTensor(prefix, wt, k, n)}
			g.Node = append(g.Node, &onnx.NodeProto{OpType: "MatMul", Input: []string{h, prefix}, Output: []string{out}})
		} else {
			// "int8b256" is int8 in blocks of 256 rather than int8Block.
			s, blockName, wide := strings.Cut(scheme, "b")
			t, err := Quantize(w, n, k, Scheme(s), DefaultGroupSize, false)
			if err != nil {
				return nil, nil, err
			}
			nb, err := toNBits(t)
			if err != nil {
				return nil, nil, err
			}
			if wide {
				block, err := strconv.Atoi(blockName)
				if err != nil {
					return nil, nil, err
				}
				nb = int8NBitsBlock(t, block)
			}
			acc := 0
			if int8Acts {
				acc = 4
			}
			ts = nb.initializers(prefix)
			g.Node = append(g.Node, nb.node(prefix, h, out, acc))
		}
		if asInput {
			for _, t := range ts {
				g.Input = append(g.Input, valueInfo(t.Name, onnx.TensorProto_DataType(t.DataType), toInts(t.Dims)...))
			}
			inputs = append(inputs, ts...)
		} else {
			g.Initializer = append(g.Initializer, ts...)
		}
		h = out
	}
	g.Output = append(g.Output, valueInfo(h, onnx.TensorProto_FLOAT, m, d))
	model := &onnx.ModelProto{IrVersion: 9, Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{
		{Domain: "", Version: 21}, {Domain: "com.microsoft", Version: 1}}}
	data, err := proto.Marshal(model)
	return data, inputs, err
}

func toInts(dims []int64) []int {
	out := make([]int, len(dims))
	for i, d := range dims {
		out[i] = int(d)
	}
	return out
}

// runModel loads model and times its execution with an [m, d] input and
// the weights passed as inputs.
func runModel(b *testing.B, backend compute.Backend, model []byte, weights []*onnx.TensorProto, m, d int) {
	exec, err := onnxbackend.LoadModel(backend, bytes.NewReader(model))
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	x, err := backend.BufferFromFlatData(0, normal(m*d, 1, 3), shapes.Make(dtypes.Float32, m, d))
	if err != nil {
		b.Fatal(err)
	}
	in := []compute.Buffer{x}
	for _, w := range weights {
		var flat any = w.RawData
		dtype := dtypes.Uint8
		if onnx.TensorProto_DataType(w.DataType) == onnx.TensorProto_FLOAT {
			flat, dtype = floatsOf(w.RawData), dtypes.Float32
		}
		buf, err := backend.BufferFromFlatData(0, flat, shapes.Make(dtype, toInts(w.Dims)...))
		if err != nil {
			b.Fatal(err)
		}
		in = append(in, buf)
	}
	run := func() {
		out, err := exec.Execute(in, nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			_ = o.Finalize()
		}
	}
	run() // warm up
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1000, "ms/step")
}

// floatsOf reads little-endian float32 values.
func floatsOf(raw []byte) []float32 {
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}
