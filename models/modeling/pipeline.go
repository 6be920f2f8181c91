package modeling

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Stage is one stage of a decoder split for pipeline parallelism: blocks
// [First, Last) of its network, with the embeddings before them on the
// first stage and the final norm and head after them on the last. Each
// stage is its own program on its own devices; the residual stream passes
// from one stage to the next.
type Stage struct {
	// Index is the stage's place, from 0; Of is the number of stages.
	Index, Of int
	// First and Last bound the blocks (layers) the stage runs.
	First, Last int
	// Weights are the weights the stage reads, sorted. A weight used on
	// two stages (an embedding tied to the head) is on both; its gradient
	// is the sum of theirs.
	Weights []string
}

// IsFirst reports whether the stage computes the embeddings.
func (st Stage) IsFirst() bool { return st.Index == 0 }

// IsLast reports whether the stage computes the logits.
func (st Stage) IsLast() bool { return st.Index == st.Of-1 }

// Stages splits the decoder's blocks into n stages as evenly as
// possible (the first stages take one block more when n does not divide
// them), and gives each stage the weights its part of the network reads,
// found by building the network once and noting where it asks for each.
// A decoder with fewer blocks than stages, or weights changed by a
// transform (LoRA, quantization), is an error.
func (d *Decoder) Stages(n int) ([]Stage, error) {
	if n < 1 || n > d.Layers {
		return nil, fmt.Errorf("pipeline: %d stages for a network of %d blocks: want 1 to %d", n, d.Layers, d.Layers)
	}
	for name, ts := range d.Params().transforms {
		if len(ts) > 0 {
			return nil, fmt.Errorf("pipeline: weight %q is transformed (LoRA or quantization), which pipeline stages do not apply", name)
		}
	}
	rec := &stageState{layers: d.Layers, regions: map[string][]int{}}
	if _, err := declareDecoder(rec, d.Graph); err != nil {
		return nil, err
	}
	if rec.block != d.Layers {
		return nil, fmt.Errorf("pipeline: the network opened %d blocks (Scope.Block), its shape says %d layers", rec.block, d.Layers)
	}
	stages := make([]Stage, n)
	for i := range stages {
		stages[i] = Stage{Index: i, Of: n}
		stages[i].First, stages[i].Last = split(d.Layers, n, i)
		for name, regions := range rec.regions {
			if slices.ContainsFunc(regions, stages[i].owns) {
				stages[i].Weights = append(stages[i].Weights, name)
			}
		}
		sort.Strings(stages[i].Weights)
	}
	return stages, nil
}

// split returns the blocks [first, last) of stage i of n over layers
// blocks, the first layers%n stages taking one more.
func split(layers, n, i int) (first, last int) {
	per, extra := layers/n, layers%n
	first = i*per + min(i, extra)
	last = first + per
	if i < extra {
		last++
	}
	return first, last
}

// owns reports whether region (a block, -1 before the blocks, Of's
// layers after them) belongs to the stage.
func (st Stage) owns(region int) bool {
	switch {
	case region < 0:
		return st.IsFirst()
	case region >= st.Last && st.IsLast():
		return true
	}
	return region >= st.First && region < st.Last
}

// StageGraph builds stage st of the network in the graph of positions
// [B, T] (int32, every row 0..T-1): weights holds the stage's weights as
// nodes (its Weights, by name), ids [B, T] are the tokens (read by the
// first stage; nil on the others) and in [B, T, D] the residual stream
// entering block st.First (nil on the first stage). It returns the
// residual stream leaving block st.Last-1, or on the last stage the logits
// [B, T, vocab]. The network is built whole, the other stages' parts on
// zero weights; nothing they compute reaches the output, so XLA drops them
// and the program's parameters are the stage's weights alone. Stages apply
// no dropout (a network asking for it fails to build).
func (d *Decoder) StageGraph(st Stage, weights map[string]*Node, ids, positions, in *Node) *Node {
	g := positions.Graph()
	if ids == nil {
		ids = Zeros(g, shapes.Make(dtypes.Int32, positions.Shape().Dimensions...))
	}
	if (in == nil) != st.IsFirst() {
		panic(fmt.Sprintf("modeling: stage %d of %d takes the residual stream from the stage before exactly when it is not the first", st.Index, st.Of))
	}
	state := &stageState{layers: d.Layers, first: st.First, last: st.Last, in: in, weights: weights}
	s := Scope{g: g, state: &scopeState{params: d.Params(), engine: EngineOf(g.Backend()), stage: state}}
	logits, _, _ := d.forwardGraph(s, ids, positions, nil, false)
	if st.IsLast() {
		return logits
	}
	if state.out == nil {
		panic(fmt.Sprintf("modeling: the network never opened block %d, where stage %d ends", st.Last, st.Index))
	}
	return state.out
}

// stageState is what one pipeline stage's graph does at the network's
// blocks and weights, or, while declaring, where the network reads each
// weight.
type stageState struct {
	layers int
	// block counts the blocks opened (Scope.Block); ended is set by
	// EndBlocks.
	block int
	ended bool
	// regions (declaring only) lists, for each weight, the blocks that read
	// it: -1 before the first block, layers after the last.
	regions map[string][]int
	// first and last bound the stage's blocks; in replaces the residual
	// stream entering block first, out is the stream entering block last.
	first, last int
	in, out     *Node
	weights     map[string]*Node
}

// enter is Block's part: the stream entering the next block.
func (st *stageState) enter(x *Node) *Node {
	if st.in != nil && st.block == st.first {
		x = st.in
	}
	if st.block == st.last {
		st.out = x
	}
	st.block++
	return x
}

// weight returns weight name of dims in a stage's graph: the stage's own
// node, or zeros (of the dtype params store it in) for the weights of other
// stages. While declaring (params nil) it records the region asking for the
// weight and returns false, so declaration goes on as usual.
func (st *stageState) weight(g *Graph, name string, dims []int, params *Params) (*Node, bool) {
	if params == nil {
		region := st.block - 1
		if st.ended {
			region = st.layers
		}
		if !slices.Contains(st.regions[name], region) {
			st.regions[name] = append(st.regions[name], region)
		}
		return nil, false
	}
	if w, ok := st.weights[name]; ok {
		if got := w.Shape().Dimensions; !slices.Equal(got, dims) {
			panic(fmt.Sprintf("modeling: stage weight %q is %v, the network uses it as %v", name, got, dims))
		}
		return w, true
	}
	dtype := dtypes.Float32
	if v, ok := params.vars[name]; ok {
		dtype = v.Shape().DType
	}
	return Zeros(g, shapes.Make(dtype, dims...)), true
}
