package modeling

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Backend-specific weight layouts for inference.
//
// GoMLX's pure-Go backend multiplies a few rows by a weight matrix with its
// "small" kernels only while the product stays under 4M multiply-adds; above
// that it packs the whole weight into a scratch layout at every call (a copy
// of the weight per product), and below it, with fewer than 4 rows, it falls
// back to a scalar loop. A decoding step multiplies 1 to 8 rows by every
// weight, so both paths are slow there. Split into blocks of rows, each its
// own variable, a weight is multiplied block by block by the vectorized 4x4
// kernel (rows padded to a multiple of 4), and the backend runs independent
// blocks on all cores (docs/benchmarks.md has the figures).
//
// Params.SplitRows lays weights out this way; Params.Node and Params.Raw
// then give the concatenation of the blocks (so any consumer sees the whole
// weight), and Linear and Embed recognize such a concatenation and use the
// blocks directly, so the concatenation is never computed on the decoding
// path (the backends drop unused nodes).

// GoRowBlockElements is the largest block LoadSpecsTo makes on the go
// backend: products of up to 8 rows by a block of 2^19 float32 stay under
// the backend's small-kernel threshold of 4M multiply-adds.
const GoRowBlockElements = 1 << 19

// SplitRows replaces each named 2-D float32 weight by blocks of whole rows
// of at most maxElements values each (a multiple of 4 rows), each block a
// variable of its own on the weight's device. Weights with a transform
// (quantized codes, LoRA), weights not loaded and weights already small
// enough are left as they are. Reading a split weight through Variable
// joins it back; Trainer joins every weight (JoinRows) before building its
// graphs.
func (p *Params) SplitRows(maxElements int, names ...string) error {
	return p.splitRows(nil, maxElements, names)
}

// splitRows is SplitRows, placing the blocks of host-resident weights on
// device (when not nil) as it makes them (LoadSpecsTo).
func (p *Params) splitRows(device compute.Backend, maxElements int, names []string) error {
	for _, name := range names {
		if _, ok := p.blocks[name]; ok {
			continue
		}
		v, ok := p.vars[name]
		if !ok {
			continue // not loaded yet: quantized codes are installed after the family is built
		}
		shape := v.Shape()
		if shape.Rank() != 2 || shape.DType != dtypes.Float32 || len(p.transforms[name]) > 0 {
			continue
		}
		rows, cols := shape.Dimensions[0], shape.Dimensions[1]
		per := max(4, maxElements/cols/4*4)
		if rows <= per {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("weight %q: %w", name, err)
		}
		backend, onDevice := deviceOf(t)
		if !onDevice && device != nil {
			backend, onDevice = device, true
		}
		var blocks []*tensors.Tensor
		var moveErr error
		t.ConstFlatData(func(flat any) {
			data := flat.([]float32)
			for r := 0; r < rows && moveErr == nil; r += per {
				n := min(per, rows-r)
				b := tensors.FromFlatDataAndDimensions(data[r*cols:(r+n)*cols], n, cols) // copies
				if onDevice {
					if moveErr = toDevice(b, backend); moveErr != nil {
						moveErr = fmt.Errorf("weight %q: block %d: %w", name, len(blocks), moveErr)
					}
				}
				blocks = append(blocks, b)
			}
		})
		if moveErr != nil {
			return moveErr
		}
		if err := p.setBlocks(name, blocks); err != nil {
			return err
		}
		for _, bv := range p.blocks[name] {
			bv.SetTrainable(v.Trainable)
		}
		if err := p.Store.DeleteVariable(VariablePath(name)); err != nil {
			return fmt.Errorf("weight %q: %w", name, err)
		}
		_ = t.FinalizeAll()
		delete(p.vars, name)
	}
	return nil
}

// setBlocks makes blocks, consecutive rows of weight name, its variables.
func (p *Params) setBlocks(name string, blocks []*tensors.Tensor) error {
	vars := make([]*model.Variable, len(blocks))
	for i, b := range blocks {
		bv, err := p.Store.CreateVariable(blockPath(name, i), b)
		if err != nil {
			return fmt.Errorf("weight %q: block %d: %w", name, i, err)
		}
		vars[i] = bv
	}
	p.blocks[name] = vars
	p.generation++
	return nil
}

// RowBlocks returns how many blocks of rows weight name is laid out in
// (0: one variable).
func (p *Params) RowBlocks(name string) int { return len(p.blocks[name]) }

// JoinRows joins every weight SplitRows split back into one variable.
func (p *Params) JoinRows() error {
	for _, name := range slices.Sorted(maps.Keys(p.blocks)) {
		if err := p.join(name); err != nil {
			return err
		}
	}
	return nil
}

// join makes split weight name one variable again, on the blocks' device.
func (p *Params) join(name string) error {
	blocks := p.blocks[name]
	whole, err := p.joined(name)
	if err != nil {
		return err
	}
	first, err := blocks[0].Value()
	if err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	if backend, onDevice := deviceOf(first); onDevice {
		if err := toDevice(whole, backend); err != nil {
			return fmt.Errorf("weight %q: %w", name, err)
		}
	}
	trainable := blocks[0].Trainable
	for i, b := range blocks {
		if t, err := b.Value(); err == nil {
			_ = t.FinalizeAll()
		}
		if err := p.Store.DeleteVariable(blockPath(name, i)); err != nil {
			return fmt.Errorf("weight %q: block %d: %w", name, i, err)
		}
	}
	delete(p.blocks, name)
	v, err := p.Store.CreateVariable(VariablePath(name), whole)
	if err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	v.SetTrainable(trainable)
	p.vars[name] = v
	p.generation++
	return nil
}

// joined returns split weight name as one host tensor, leaving the blocks.
func (p *Params) joined(name string) (*tensors.Tensor, error) {
	dims := p.Dims(name)
	whole := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	var err error
	whole.MutableFlatData(func(flat any) {
		out := flat.([]float32)
		for i, b := range p.blocks[name] {
			t, e := b.Value()
			if e != nil {
				err = fmt.Errorf("weight %q: block %d: %w", name, i, e)
				return
			}
			t.ConstFlatData(func(block any) { out = out[copy(out, block.([]float32)):] })
			if t.IsOnAnyDevice() {
				t.FinalizeLocal() // the host copy reading made: the block stays on its device
			}
		}
	})
	return whole, err
}

// blockPath is the Store path of block i of weight name.
func blockPath(name string, i int) string {
	return fmt.Sprintf("%s_rows%d", VariablePath(name), i)
}

// deviceOf returns the backend holding t, if t is on a device.
func deviceOf(t *tensors.Tensor) (compute.Backend, bool) {
	if !t.IsOnAnyDevice() {
		return nil, false
	}
	b, err := t.Backend()
	return b, err == nil
}

// rowBlocks returns the blocks of w when w is a concatenation of 2-D blocks
// along its rows (a weight SplitRows laid out), else nil.
func rowBlocks(w *graph.Node) []*graph.Node {
	if w.Type() != graph.NodeTypeConcatenate || w.Rank() != 2 {
		return nil
	}
	in := w.Inputs()
	rows := 0
	for _, b := range in {
		if b.Rank() != 2 || b.Shape().Dimensions[1] != w.Shape().Dimensions[1] {
			return nil
		}
		rows += b.Shape().Dimensions[0]
	}
	if len(in) < 2 || rows != w.Shape().Dimensions[0] {
		return nil // concatenated along the columns
	}
	return in
}

// blockProduct is flat [n, in] times the transpose of the weight made of
// blocks ([rows_i, in] each): [n, sum rows_i]. The rows are padded to a
// multiple of 4 for the go backend's vectorized kernel.
func blockProduct(flat *graph.Node, blocks []*graph.Node) *graph.Node {
	n, in := flat.Shape().Dimensions[0], flat.Shape().Dimensions[1]
	x := flat
	if r := n % 4; r != 0 {
		x = graph.Concatenate([]*graph.Node{flat, graph.Zeros(flat.Graph(), shapes.Make(flat.DType(), 4-r, in))}, 0)
	}
	parts := make([]*graph.Node, len(blocks))
	for i, b := range blocks {
		parts[i] = graph.Einsum("ni,oi->no", x, b)
	}
	y := graph.Concatenate(parts, 1)
	if x != flat {
		y = graph.Slice(y, graph.AxisRange(0, n))
	}
	return y
}

// blockEmbed looks ids up in a table made of row blocks: each block
// contributes the rows whose ids fall in its range.
func blockEmbed(blocks []*graph.Node, ids *graph.Node) *graph.Node {
	var out *graph.Node
	start := 0
	for _, b := range blocks {
		n := b.Shape().Dimensions[0]
		local := graph.AddScalar(ids, -start)
		in := graph.And(graph.GreaterOrEqual(local, graph.ScalarZero(ids.Graph(), ids.DType())),
			graph.LessThan(local, graph.Scalar(ids.Graph(), ids.DType(), n)))
		rows := graph.Gather(b, graph.ExpandAxes(graph.ClipScalar(local, 0, float64(n-1)), -1))
		rows = graph.Mul(rows, graph.ConvertDType(graph.ExpandAxes(in, -1), rows.DType()))
		if out == nil {
			out = rows
		} else {
			out = graph.Add(out, rows)
		}
		start += n
	}
	return out
}
