package modeling

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX graphs read best unqualified
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Weights kept as low-bit codes (weights.Blocks, a GGUF tensor in its
// block type): the codes are stored under the weight's name and the scales,
// zero points and minimums beside them, all frozen; a transform
// dequantizes them inside every graph, so every family and engine runs
// them and LoRA adapters stack on top. Two uses avoid the whole float32
// matrix: an embedding lookup dequantizes only the rows it gathers, and a
// product by a large weight (a tied head over a 262k vocabulary) is done a
// slice of rows at a time.

// The suffixes of a kept weight's tensors beside its codes.
const (
	SuffixScale = "_scale" // float16 or float32 [rows, groups]
	SuffixZero  = "_zero"  // uint8 [rows, groups]
	SuffixMin   = "_min"   // as the scale
)

// productSliceElements bounds the weights dequantized at once in a product
// by a kept weight: 4M values, 16 MB of float32.
var productSliceElements = 1 << 22

// SetBlocks stores the [rows, cols] weight name as the codes b holds, with
// the dequantizing transform (see above). b's tensors become the weight's:
// the caller must not use them afterwards.
func (p *Params) SetBlocks(name string, b *weights.Blocks) error {
	parts := map[string]*tensors.Tensor{"": b.Codes, SuffixScale: b.Scale, SuffixZero: b.Zero, SuffixMin: b.Min}
	for suffix, t := range parts {
		if t == nil {
			continue
		}
		if err := p.Set(name+suffix, t); err != nil {
			return err
		}
		p.vars[name+suffix].SetTrainable(false)
	}
	p.SetDims(name, b.Rows, b.Cols)
	k := keptWeight{typ: b.Type, group: b.Group, bits: b.Bits, zero: b.Zero != nil, min: b.Min != nil}
	p.kept[name] = k
	return p.SetTransform(name, func(g *Graph, codes *Node) *Node {
		part := func(suffix string) *Node { return p.Raw(g, name+suffix) }
		w := k.dequantize(codes, part(SuffixScale), k.optional(part, SuffixZero, k.zero), k.optional(part, SuffixMin, k.min))
		forms(g)[w] = &weightForm{
			rows:    func(ids *Node) *Node { return k.lookup(codes, part, ids) },
			product: func(flat *Node) *Node { return k.product(flat, codes, part) },
		}
		return w
	})
}

// keptWeight is how a kept weight's codes become values.
type keptWeight struct {
	typ         weights.GGUFType
	group, bits int
	zero, min   bool
}

// keptPart returns the kept weight that tensor name belongs to (its codes
// or a suffixed part), if any.
func (p *Params) keptPart(name string) (string, bool) {
	for _, suffix := range []string{"", SuffixScale, SuffixZero, SuffixMin} {
		if owner, ok := strings.CutSuffix(name, suffix); ok {
			if _, kept := p.kept[owner]; kept && p.Has(name) {
				return owner, true
			}
		}
	}
	return "", false
}

// dequantizeKept returns kept weight name as a float32 host tensor.
func (p *Params) dequantizeKept(name string) (*tensors.Tensor, error) {
	k := p.kept[name]
	dims := p.Dims(name)
	b := &weights.Blocks{Type: k.typ, Rows: dims[0], Cols: dims[1], Group: k.group, Bits: k.bits}
	var err error
	value := func(suffix string) *tensors.Tensor {
		v, e := p.vars[name+suffix].Value()
		if err == nil {
			err = e
		}
		return v
	}
	b.Codes, b.Scale = value(""), value(SuffixScale)
	if k.zero {
		b.Zero = value(SuffixZero)
	}
	if k.min {
		b.Min = value(SuffixMin)
	}
	if err != nil {
		return nil, err
	}
	values, err := b.Dequantize()
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(values, dims...), nil
}

func (k keptWeight) optional(part func(string) *Node, suffix string, present bool) *Node {
	if !present {
		return nil
	}
	return part(suffix)
}

// dequantize returns the float32 [rows, cols] values of codes (int8
// [rows, cols], or uint8 [rows, cols/2] with column 2i in the low nibble),
// scale [rows, groups], zero and mins (nil, or [rows, groups]), in the
// order of ggml's arithmetic: (q − zero)·scale, or q·scale + min.
func (k keptWeight) dequantize(codes, scale, zero, mins *Node) *Node {
	g := codes.Graph()
	rows := codes.Shape().Dimensions[0]
	var q *Node
	if codes.DType() == dtypes.Int8 {
		q = ConvertDType(codes, dtypes.Float32)
	} else {
		low := BitwiseAnd(codes, Scalar(g, dtypes.Uint8, 0x0F))
		high := BitwiseShiftRightLogicalScalar(codes, uint8(4))
		q = ConvertDType(Reshape(Stack([]*Node{low, high}, -1), rows, -1), dtypes.Float32)
	}
	cols := q.Shape().Dimensions[1]
	groups := cols / k.group
	q = Reshape(q, rows, groups, k.group)
	perGroup := func(x *Node) *Node { return Reshape(ConvertDType(x, dtypes.Float32), rows, groups, 1) }
	if zero != nil {
		q = Sub(q, perGroup(zero))
	}
	w := Mul(q, perGroup(scale))
	if mins != nil {
		w = Add(w, perGroup(mins))
	}
	return Reshape(w, rows, cols)
}

// lookup returns the rows ids [...] of the weight: [..., cols], gathering
// the codes and scales of those rows only.
func (k keptWeight) lookup(codes *Node, part func(string) *Node, ids *Node) *Node {
	flat := ExpandAxes(Reshape(ids, -1), -1)
	gather := func(x *Node) *Node {
		if x == nil {
			return nil
		}
		return Gather(x, flat)
	}
	w := k.dequantize(gather(codes), gather(part(SuffixScale)), gather(k.optional(part, SuffixZero, k.zero)), gather(k.optional(part, SuffixMin, k.min)))
	return Reshape(w, append(ids.Shape().Clone().Dimensions, w.Shape().Dimensions[1])...)
}

// product returns flat [n, cols] times the transpose of the weight:
// [n, rows], dequantizing at most productSliceElements weights at a time.
// In graphs never differentiated, on engines that schedule by
// dependencies (Engine.ChainedBlocks), each slice's codes are read only
// once the product's input, and the slice before, are computed: otherwise
// every kept weight of the network is dequantized as the step starts (its
// inputs are all there), and the whole float32 model is held at once.
// (GoMLX's autodiff would ask the integer operations after such a
// dependency for gradients.)
func (k keptWeight) product(flat, codes *Node, part func(string) *Node) *Node {
	rows, cols := codes.Shape().Dimensions[0], flat.Shape().Dimensions[1]
	per := max(1, productSliceElements/cols)
	var after *Node
	if g := flat.Graph(); g.State(inferenceGraph{}) == true && EngineOf(g.Backend()).ChainedBlocks {
		after = zeroAfter(flat)
	} else if rows <= per {
		return matmul("ni,oi->no", flat, k.dequantize(codes, part(SuffixScale), k.optional(part, SuffixZero, k.zero), k.optional(part, SuffixMin, k.min)))
	}
	var outs []*Node
	for r0 := 0; r0 < rows; r0 += per {
		n := min(per, rows-r0)
		slice := func(x *Node) *Node {
			switch {
			case x == nil:
				return nil
			case after == nil:
				return Slice(x, AxisRange(r0, r0+n))
			}
			// A Gather of the rows at indices that wait for after (the
			// go backend has no DynamicSlice).
			at := Add(Iota(x.Graph(), shapes.Make(dtypes.Int32, n, 1), 0), ConvertDType(after, dtypes.Int32))
			return Gather(x, AddScalar(at, float64(r0)))
		}
		w := k.dequantize(slice(codes), slice(part(SuffixScale)), slice(k.optional(part, SuffixZero, k.zero)), slice(k.optional(part, SuffixMin, k.min)))
		y := matmul("ni,oi->no", flat, w)
		outs = append(outs, y)
		if after != nil {
			after = zeroAfter(y)
		}
	}
	if len(outs) == 1 {
		return outs[0]
	}
	return Concatenate(outs, 1)
}

// zeroAfter returns a float32 scalar 0 that is computed after x (x's first
// value times zero: finite activations assumed, as blocked attention does).
func zeroAfter(x *Node) *Node {
	return StopGradient(MulScalar(ConvertDType(Reshape(Slice(Reshape(x, -1), AxisRange(0, 1))), dtypes.Float32), 0))
}

// inferenceGraph is the graph state NewScope sets in graphs never
// differentiated.
type inferenceGraph struct{}

// weightForm is what a kept weight's dequantized node can do without
// being computed whole.
type weightForm struct {
	rows    func(ids *Node) *Node
	product func(flat *Node) *Node
}

// formsKey is the graph state holding the forms of a graph's kept weights.
type formsKey struct{}

// forms returns g's map from a kept weight's dequantized node to its form.
func forms(g *Graph) map[*Node]*weightForm {
	m, ok := g.State(formsKey{}).(map[*Node]*weightForm)
	if !ok {
		m = map[*Node]*weightForm{}
		g.AttachState(formsKey{}, m)
	}
	return m
}

// formOf returns the form of w when it is a kept weight's dequantized
// node, else nil.
func formOf(w *Node) *weightForm {
	m, _ := w.Graph().State(formsKey{}).(map[*Node]*weightForm)
	return m[w]
}

// loadKept reads weight s, kept in set as codes under name, into p:
// decoded straight into buffers backend computes from where it shares
// memory with the host, else read on the host and moved.
func (p *Params) loadKept(backend compute.Backend, set *weights.Set, s Spec, name string, k *weights.KeptTensor) error {
	p.roles[s.Name] = s.Role
	if s.Transpose || len(s.Dims) != 2 || s.Dims[0] != k.Rows || s.Dims[1] != k.Cols {
		return fmt.Errorf("%s: %s [%d %d] kept as codes, the network wants %v (transposed: %v)", set.Where(name), k.Type, k.Rows, k.Cols, s.Dims, s.Transpose)
	}
	var alloc weights.Alloc
	if backend.HasSharedBuffers() {
		alloc = func(shape shapes.Shape) (*tensors.Tensor, error) {
			return tensors.FromShapeForBackend(backend, 0, shape)
		}
	}
	b, err := k.Read(alloc)
	if err != nil {
		return err
	}
	if err := p.SetBlocks(s.Name, b); err != nil {
		return err
	}
	for _, suffix := range []string{"", SuffixScale, SuffixZero, SuffixMin} {
		if v, ok := p.vars[s.Name+suffix]; ok {
			if err := moveVariable(backend, s.Name+suffix, v); err != nil {
				return err
			}
		}
	}
	return nil
}
