package modeling

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// RecurrentGraph is a recurrent family's network (a state-space model such
// as Mamba): ids and mask [B, T] (int32, mask 1 = real token) and the state
// before the first token (one node per state tensor, as RecurrentShape.State
// lists them) in; logits [B, T, vocab], the hidden states the family
// reports, and the state after the last token out. scan is how the network
// runs its recurrences along time (see LinearScan). It takes its weights
// from s, which is also how it declares them (DeclareRecurrent).
type RecurrentGraph func(s Scope, ids, mask *Node, state []*Node, scan ScanMode) (logits *Node, hidden, next []*Node)

// RecurrentShape is what a recurrent family tells Recurrent about its
// network.
type RecurrentShape struct {
	// Layers is the number of layers; the forward pass returns Layers+1
	// hidden states.
	Layers int
	// Vocab is the vocabulary size: every id must be in [0, Vocab) (0: not
	// checked).
	Vocab int
	// State returns the dimensions of each state tensor for a batch of
	// batch rows (the first axis of each); all zeros is the state before
	// the first token.
	State func(batch int) [][]int
}

// Recurrent runs a recurrent family: full forward passes, and steps that
// carry the network's state in a Cache (Cache.State) from one call to the
// next, so that generation goes through the same NewCache and Step as the
// decoders' KV cache. Its state does not grow with the tokens: a cache's
// maximum length is only checked, never allocated.
type Recurrent struct {
	RecurrentShape
	// Backend is the engine the network runs on.
	Backend compute.Backend
	Graph   RecurrentGraph
	// Scan is how the network's recurrences run (ScanAuto: the engine's
	// fastest). Programs are kept per mode, so it may change between calls.
	Scan ScanMode
	run  *Runner
}

// NewRecurrent runs graph, whose weights are params, on backend.
func NewRecurrent(params *Params, backend compute.Backend, shape RecurrentShape, graph RecurrentGraph) *Recurrent {
	return &Recurrent{RecurrentShape: shape, Backend: backend, Graph: graph, run: NewRunner(params, backend)}
}

// DeclareRecurrent is DeclareWeights for a recurrent network, built for
// one token.
func DeclareRecurrent(network RecurrentGraph, shape RecurrentShape) ([]Spec, error) {
	return DeclareWeights(func(s Scope) {
		g := s.Graph()
		one := shapes.Make(dtypes.Int32, 1, 1)
		var state []*Node
		for _, dims := range shape.State(1) {
			state = append(state, Zeros(g, shapes.Make(dtypes.Float32, dims...)))
		}
		network(s, Zeros(g, one), Ones(g, one), state, ScanUnrolled)
	})
}

// Params returns the network's weights.
func (r *Recurrent) Params() *Params { return r.run.Params() }

// ContextLength returns 0: a recurrent network has no limit on the tokens a
// sequence may hold.
func (r *Recurrent) ContextLength() int { return 0 }

// Forward runs the whole network over b from the zero state. The mask
// (Batch.AttentionMask) goes to the network, which decides what padding
// does; position ids and token types are ignored (the network has none).
// A recurrent network has no attention: asking for it is an error.
func (r *Recurrent) Forward(b Batch, opts ForwardOptions) (*Output, error) {
	if opts.Attentions {
		return nil, fmt.Errorf("a recurrent network has no attention probabilities to return")
	}
	ids, mask, err := b.Inputs(r.Vocab, 0)
	if err != nil {
		return nil, err
	}
	hooks, err := opts.HookInputs(len(b.IDs[0]))
	if err != nil {
		return nil, err
	}
	e, err := r.run.Program(fmt.Sprintf("%s/%v", opts.Key(), r.Scan), func(in []*Node) []*Node {
		in = opts.AttachHooks(in, 2)
		g := in[0].Graph()
		var state []*Node
		for _, dims := range r.State(in[0].Shape().Dimensions[0]) {
			state = append(state, Zeros(g, shapes.Make(dtypes.Float32, dims...)))
		}
		logits, hidden, _ := r.Graph(NewScope(g, r.Params(), true), in[0], in[1], state, r.Scan)
		return opts.Outputs([]*Node{logits}, hidden, nil)
	})
	if err != nil {
		return nil, err
	}
	res, err := e.Call(append([]any{ids, mask}, hooks...)...)
	if err != nil {
		return nil, opts.HookError(err)
	}
	head, out := opts.Split(res, r.Layers)
	out.Logits = head[0]
	return &out, nil
}

// NewCache returns a cache holding the zero state for batch rows, for up
// to maxLen tokens.
func (r *Recurrent) NewCache(batch, maxLen int) (*Cache, error) {
	if batch <= 0 || maxLen <= 0 {
		return nil, fmt.Errorf("cache: batch %d and length %d must be positive", batch, maxLen)
	}
	c := emptyCache(batch, maxLen)
	for _, dims := range r.State(batch) {
		t, err := tensors.FromShapeForBackend(r.Backend, 0, shapes.Make(dtypes.Float32, dims...))
		if err != nil {
			c.Free()
			return nil, fmt.Errorf("cache: %w", err)
		}
		c.State = append(c.State, t)
	}
	return c, nil
}

// Step feeds ids [B, T] (with an optional mask, 1 = real token) to the
// network from the state in c, replaces that state with the one after the
// last token, and returns the logits [B, T, vocab]: a prefill and then one
// token at a time give the logits of one forward pass over all the tokens.
func (r *Recurrent) Step(c *Cache, ids [][]int32, mask [][]int32) (*tensors.Tensor, error) {
	B, T, err := dims(ids, "input ids")
	if err != nil {
		return nil, err
	}
	if c.State == nil {
		return nil, fmt.Errorf("cache holds no recurrent state (freed, or a decoder's key/value cache)")
	}
	if B != len(c.valid) {
		return nil, fmt.Errorf("cache holds %d rows, the step has %d", len(c.valid), B)
	}
	if c.Len+T > c.MaxLen {
		return nil, fmt.Errorf("%d cached + %d new tokens exceed the cache's %d", c.Len, T, c.MaxLen)
	}
	idsT, maskT, err := Batch{IDs: ids, AttentionMask: mask}.Inputs(r.Vocab, 0)
	if err != nil {
		return nil, err
	}
	hooks, nh, err := c.stepHooks(T)
	if err != nil {
		return nil, err
	}
	e, err := r.run.Program(fmt.Sprintf("step/%v%s", r.Scan, c.Hooks.key()), func(in []*Node) []*Node {
		attachStepHooks(c.Hooks, in[len(in)-nh:])
		g := in[0].Graph()
		logits, _, next := r.Graph(NewScope(g, r.Params(), true), in[0], in[1], in[2:len(in)-nh], r.Scan)
		checkStepHooks(g, c.Hooks)
		return append([]*Node{logits}, next...)
	})
	if err != nil {
		return nil, err
	}
	args := []any{idsT, maskT}
	for _, t := range c.State {
		args = append(args, t)
	}
	res, err := e.Call(append(args, hooks...)...)
	if err != nil {
		return nil, c.Hooks.explain(err)
	}
	for _, t := range c.State {
		_ = t.FinalizeAll()
	}
	c.State = res[1:]
	c.Len += T
	flat := make([]int32, 0, B*T)
	for b := range B {
		if mask == nil {
			flat = append(flat, slices.Repeat([]int32{1}, T)...)
		} else {
			flat = append(flat, mask[b]...)
		}
	}
	c.record(ids, flat)
	return res[0], nil
}
