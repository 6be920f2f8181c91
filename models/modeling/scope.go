package modeling

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Scope hands a network its weights, in the manner of candle's VarBuilder
// (vb.pp("self_attn")): the network asks for each weight where it uses it,
// with its name, role and shape, and that call is the weight's only
// declaration. DeclareWeights builds a network once with a declaring scope
// to list its weights, the Specs that loading, random initialization,
// saving, quantization and sharding read; in a model's graphs the same calls
// return the loaded weights (through their transforms).
//
// Names are the checkpoint's, joined with dots: s.At("h.%d", 3).Weight("ln_1.weight", ...)
// is the weight "h.3.ln_1.weight". Shapes are the checkpoint's: a Linear's
// weight is [out, in], as torch.nn.Linear stores it.
type Scope struct {
	g      *Graph
	prefix string
	state  *scopeState
}

type scopeState struct {
	params    *Params // nil while declaring
	inference bool
	engine    Engine
	specs     []Spec
	index     map[string]int
	// stage, when set, builds one pipeline stage of the network (or, while
	// declaring, records where each weight is used; see pipeline.go).
	stage *stageState
}

// NewScope returns the scope of graph g, whose weights are params.
// inference marks graphs never differentiated (forward passes and decoding
// steps), where blocks may use formulations that are fast forward but
// costly to differentiate.
func NewScope(g *Graph, params *Params, inference bool) Scope {
	if inference {
		g.AttachState(inferenceGraph{}, true) // read by kept weights' products
	}
	return Scope{g: g, state: &scopeState{params: params, inference: inference, engine: EngineOf(g.Backend())}}
}

// DeclareWeights lists the weights network asks s for, in the order it
// first asks, by building it once in a graph that is never compiled (its
// weights are zeros of the declared shapes). A weight asked for twice (a
// tied embedding and head) must have the same shape each time; asked for
// as an Embedding and as the LMHead, its role is LMHead. A network that
// does not build (shapes that do not fit) is an error.
func DeclareWeights(network func(s Scope)) (specs []Spec, err error) {
	return declareWeights(nil, network)
}

// declareWeights is DeclareWeights, with stage (nil: none) recording in
// which part of the network each weight is used.
func declareWeights(stage *stageState, network func(s Scope)) (specs []Spec, err error) {
	backend, err := declaringBackend()
	if err != nil {
		return nil, err
	}
	g := NewGraph(backend, "declare")
	defer g.Finalize()
	st := &scopeState{index: map[string]int{}, engine: EngineOf(backend), stage: stage}
	defer func() {
		if r := recover(); r != nil {
			specs, err = nil, fmt.Errorf("modeling: the network does not build: %v", r)
		}
	}()
	network(Scope{g: g, state: st})
	return st.specs, nil
}

// DeclareDecoder is DeclareWeights for a decoder-only network, built for
// one token.
func DeclareDecoder(network DecoderGraph) ([]Spec, error) {
	return declareDecoder(nil, network)
}

// declareDecoder is DeclareDecoder with declareWeights' stage.
func declareDecoder(stage *stageState, network DecoderGraph) ([]Spec, error) {
	return declareWeights(stage, func(s Scope) {
		one := shapes.Make(dtypes.Int32, 1, 1)
		ids, positions := Zeros(s.Graph(), one), Zeros(s.Graph(), one)
		network(s, ids, positions, func(_ int, q, _, _ *Node) *Node { return q })
	})
}

// declaringBackend is the backend declaring graphs are built on (never
// run): GoMLX's pure-Go one, made once.
var declaringBackend = sync.OnceValues(func() (compute.Backend, error) { return gobackend.New("") })

// Graph returns the graph the network is built in.
func (s Scope) Graph() *Graph { return s.g }

// Inference reports whether the graph is never differentiated.
func (s Scope) Inference() bool { return s.state.inference }

// Engine returns what the graph's engine does well.
func (s Scope) Engine() Engine { return s.state.engine }

// At returns the scope of a sub-module: its weights' names start with
// fmt.Sprintf(format, args...) and a dot.
func (s Scope) At(format string, args ...any) Scope {
	s.prefix += fmt.Sprintf(format, args...) + "."
	return s
}

// Name returns the full name of weight name in s.
func (s Scope) Name(name string) string { return s.prefix + name }

// Weight returns weight name, of checkpoint shape dims and the given role.
func (s Scope) Weight(name string, role Role, dims ...int) *Node {
	return s.weight(Spec{Name: s.prefix + name, Dims: dims, Role: role})
}

// TransposedWeight returns a 2-D weight the checkpoint stores [in, out]
// (GPT-2's Conv1D) as [out, in], laid out so at load (see Spec.Transpose).
func (s Scope) TransposedWeight(name string, role Role, in, out int) *Node {
	return s.weight(Spec{Name: s.prefix + name, Dims: []int{in, out}, Role: role, Transpose: true})
}

func (s Scope) weight(sp Spec) *Node {
	dims := sp.Dims
	if sp.Transpose {
		dims = []int{dims[1], dims[0]}
	}
	st := s.state
	if st.stage != nil {
		if w, ok := st.stage.weight(s.g, sp.Name, dims, st.params); ok {
			return w
		}
	}
	if st.params == nil {
		if i, ok := st.index[sp.Name]; ok {
			st.specs[i] = merged(st.specs[i], sp)
		} else {
			st.index[sp.Name] = len(st.specs)
			st.specs = append(st.specs, sp)
		}
		return Zeros(s.g, shapes.Make(dtypes.Float32, dims...))
	}
	w := st.params.Node(s.g, sp.Name)
	if got := w.Shape().Dimensions; !slices.Equal(got, dims) {
		panic(fmt.Sprintf("modeling: weight %q is %v, the network uses it as %v", sp.Name, got, dims))
	}
	return w
}

// merged is the spec of a weight declared as a and then as b.
func merged(a, b Spec) Spec {
	if !slices.Equal(a.Dims, b.Dims) || a.Transpose != b.Transpose {
		panic(fmt.Sprintf("weight %q declared as %v and as %v", a.Name, a.Dims, b.Dims))
	}
	switch {
	case a.Role == b.Role:
	case a.Role == Embedding && b.Role == LMHead, a.Role == LMHead && b.Role == Embedding:
		a.Role = LMHead
	default:
		panic(fmt.Sprintf("weight %q declared as %s and as %s", a.Name, a.Role, b.Role))
	}
	return a
}

// biasRole is the role of the bias of a projection of role r: it splits
// with the projection's outputs when they are split.
func biasRole(r Role) Role {
	if r == ColumnParallel || r == LMHead {
		return ColumnBias
	}
	return Whole
}

// Linear applies the torch.nn.Linear name (weights name.weight [out, in]
// and, with bias, name.bias [out]) to x [..., in].
func (s Scope) Linear(x *Node, name string, role Role, out int, bias bool) *Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	w := s.Weight(name+".weight", role, out, in)
	var b *Node
	if bias {
		b = s.Weight(name+".bias", biasRole(role), out)
	}
	return Linear(x, w, b)
}

// Conv1D applies GPT-2's Conv1D name (a Linear whose checkpoint weight is
// [in, out]) to x [..., in].
func (s Scope) Conv1D(x *Node, name string, role Role, out int) *Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	w := s.TransposedWeight(name+".weight", role, in, out)
	return Linear(x, w, s.Weight(name+".bias", biasRole(role), out))
}

// LayerNorm applies the torch.nn.LayerNorm name (name.weight and name.bias
// over x's last axis).
func (s Scope) LayerNorm(x *Node, name string, eps float64) *Node {
	d := x.Shape().Dimensions[x.Rank()-1]
	return LayerNorm(x, s.Weight(name+".weight", Whole, d), s.Weight(name+".bias", Whole, d), eps)
}

// RMSNorm applies the RMSNorm name (name.weight over x's last axis).
func (s Scope) RMSNorm(x *Node, name string, eps float64) *Node {
	return RMSNorm(x, s.Weight(name+".weight", Whole, x.Shape().Dimensions[x.Rank()-1]), eps)
}

// Embed looks ids up in the table name [vocab, dim] (see EmbedIn).
func (s Scope) Embed(ids *Node, name string, role Role, vocab, dim int) *Node {
	return s.EmbedIn(s.Weight(name, role, vocab, dim), ids)
}

// Dropout zeroes each element of x with probability rate and scales the
// others by 1/(1-rate), as torch.nn.Dropout in training, in the graphs a
// trainer marks as training (Params.MarkTraining) once it has seeded the
// weights' random stream (Params.SeedDropout); everywhere else (forward
// passes, decoding, evaluation) it returns x.
func (s Scope) Dropout(x *Node, rate float64) *Node {
	if rate <= 0 || s.state.params == nil {
		return x
	}
	if s.state.stage != nil {
		panic(fmt.Sprintf("modeling: pipeline stages apply no dropout (rate %g): train with dropout 0", rate))
	}
	return s.state.params.dropout(x, rate)
}

// checkpointBlocks is the key of the graph state CheckpointBlocks attaches.
type checkpointBlocks struct{}

// CheckpointBlocks turns on gradient checkpointing in g: each block a
// network opens with Scope.Block keeps only its input for the backward
// pass and recomputes its activations there (GoMLX's Node.Checkpoint), so
// a training step holds one block's activations at a time, for about one
// more forward pass of compute. A trainer sets it
// (Trainer.SetGradientCheckpointing).
func CheckpointBlocks(g *Graph) { g.AttachState(checkpointBlocks{}, true) }

// Block marks x as the input of one block of the network (a transformer
// layer), which is also where the residual stream's hook points are
// (HookEmbed, HookResidPost of the block before, HookResidPre): with
// CheckpointBlocks, the block's activations are recomputed in
// the backward pass; otherwise it returns x. After the last block the
// network calls EndBlocks.
func (s Scope) Block(x *Node) *Node {
	if st := s.state.stage; st != nil {
		x = st.enter(x)
	}
	if st := s.hooks(); st != nil {
		x = st.blockHook(x)
	}
	if s.g.State(checkpointBlocks{}) == nil {
		return x
	}
	return x.Checkpoint()
}

// EndBlocks closes the last block opened by Block.
func (s Scope) EndBlocks(x *Node) *Node {
	if st := s.state.stage; st != nil {
		st.ended = true
	}
	if st := s.hooks(); st != nil {
		x = st.endHook(x)
	}
	if s.g.State(checkpointBlocks{}) == nil {
		return x
	}
	return x.StopCheckpoint()
}

// EngineOf returns what backend's engine does well. It is the one place
// that tells engines apart; the building blocks ask it for a capability.
func EngineOf(backend compute.Backend) Engine {
	switch backend.String() {
	case "go":
		return Engine{RowBlocks: true, SequentialScan: true, ChainedBlocks: true}
	case "onnxruntime":
		return Engine{SlicedLookups: true, SequentialScan: true}
	}
	if x, ok := backend.(interface{ IsCPU() bool }); ok && x.IsCPU() { // XLA's CPU plugin
		return Engine{SequentialScan: true, ChainedBlocks: true}
	}
	return Engine{}
}

// Engine is what an engine does well, where the best layout or formulation
// differs between engines.
type Engine struct {
	// RowBlocks: products of activations by a weight run faster when the
	// weight is laid out in blocks of rows (GoMLX's go backend, whose
	// matrix kernels parallelize over blocks; see SplitRows).
	RowBlocks bool
	// SlicedLookups: a lookup of a few rows is faster as one slice per id
	// than as a Gather (GoMLX's ONNX backend turns Gather into a Transpose
	// of the whole table, which ONNX Runtime copies even when it is the
	// identity, and a GatherND; see docs/benchmarks.md).
	SlicedLookups bool
	// SequentialScan: a recurrence along time (LinearScan, ScanAuto) runs
	// faster step by step than as an associative scan: measured on every
	// CPU engine (docs/benchmarks.md, "Mamba's selective scan"); not on an
	// accelerator, where XLA gets the associative scan, whose few wide
	// operations suit it.
	SequentialScan bool
	// ChainedBlocks: blocked attention (flash.go) makes each block of
	// scores depend on the one before, or the engine's scheduler computes
	// every block before reducing any (go, XLA's CPU plugin: at 8k tokens
	// 2.1 and 3.2 GB against 0.8 and 1.1 GB chained). ONNX Runtime runs
	// them in order by itself and needs four times the memory chained
	// (docs/benchmarks.md, "Memory-efficient attention").
	ChainedBlocks bool
}
