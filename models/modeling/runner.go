package modeling

import (
	"fmt"
	"sync"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Runner is what every family uses to run its network: it compiles each
// program the network needs (a forward pass with these outputs, a decoding
// step, ...) once, over the family's weights, and keeps it under a key until
// the weights or their transforms change (Params.Generation), when every
// program is built again. It is safe for concurrent use.
type Runner struct {
	params  *Params
	backend compute.Backend

	mu       sync.Mutex
	programs map[string]*Program
	// generation is the Params.Generation the programs were built for.
	generation uint64
}

// NewRunner runs networks over params on backend.
func NewRunner(params *Params, backend compute.Backend) *Runner {
	return &Runner{params: params, backend: backend}
}

// Params returns the weights the programs run over.
func (r *Runner) Params() *Params { return r.params }

// Backend returns the engine the programs run on.
func (r *Runner) Backend() compute.Backend { return r.backend }

// Program returns the program kept under key, compiling graph over the
// weights when there is none (see Params.NewExec): graph takes the
// program's inputs and returns its outputs.
func (r *Runner) Program(key string, graph func(in []*Node) []*Node) (*Program, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.params.Generation(); g != r.generation {
		r.programs, r.generation = nil, g // weights or transforms changed: rebuild
	}
	if p, ok := r.programs[key]; ok {
		return p, nil
	}
	p, err := r.params.NewExec(r.backend, graph)
	if err != nil {
		return nil, err
	}
	if r.programs == nil {
		r.programs = map[string]*Program{}
	}
	r.programs[key] = p
	return p, nil
}

// Outputs appends to outs what o asks a forward pass to return besides its
// head's outputs: the hidden states, the attention probabilities, the
// router logits the network recorded (see Scope.Record), then the
// activations its hooks cached (a hook point the network does not have is
// an error naming those it has). A family's
// forward graph ends with it, and Forward's caller reads the results back
// with Split.
func (o ForwardOptions) Outputs(outs, hidden, probs []*Node) []*Node {
	if o.HiddenStates {
		outs = append(outs, hidden...)
	}
	if o.Attentions {
		outs = append(outs, probs...)
	}
	if o.RouterLogits {
		routers := Recorded(outs[0].Graph(), RouterLogits)
		if len(routers) == 0 {
			panic("the network has no mixture of experts: it has no router logits to return")
		}
		outs = append(outs, Stack(routers, 0))
	}
	if o.Hooks.key() != "" {
		outs = append(outs, hookOutputs(outs[0].Graph(), o.Hooks)...)
	}
	return outs
}

// Split divides the results of a forward program whose graph ended with
// Outputs over a network of layers layers: the head's results first, and
// the Output's HiddenStates (layers+1), Attentions (layers) and
// RouterLogits as o asked.
func (o ForwardOptions) Split(res []*tensors.Tensor, layers int) (head []*tensors.Tensor, out Output) {
	extra := 0
	if o.HiddenStates {
		extra += layers + 1
	}
	if o.Attentions {
		extra += layers
	}
	if o.RouterLogits {
		extra++
	}
	var cached int
	if o.Hooks != nil {
		cached = len(o.Hooks.Cache)
	}
	extra += cached
	head, res = res[:len(res)-extra], res[len(res)-extra:]
	if o.HiddenStates {
		out.HiddenStates, res = res[:layers+1], res[layers+1:]
	}
	if o.Attentions {
		out.Attentions, res = res[:layers], res[layers:]
	}
	if o.RouterLogits {
		out.RouterLogits, res = res[0], res[1:]
	}
	if cached > 0 {
		out.Cache = map[string]*tensors.Tensor{}
		for i, name := range o.Hooks.Cache {
			out.Cache[name] = res[i]
		}
	}
	return head, out
}

// Key is the key under which a family's Runner keeps the forward program
// with these outputs.
func (o ForwardOptions) Key() string {
	return fmt.Sprintf("forward/%v/%v/%v%s", o.HiddenStates, o.Attentions, o.RouterLogits, o.Hooks.key())
}

// Inputs checks b against a network's limits — at most maxPositions tokens
// a row and ids in [0, vocab) (0: not checked) — and returns its ids and its
// attention mask (all ones when b has none) as [B, T] tensors.
func (b Batch) Inputs(vocab, maxPositions int) (ids, mask *tensors.Tensor, err error) {
	B, T, err := dims(b.IDs, "input ids")
	if err != nil {
		return nil, nil, err
	}
	if maxPositions > 0 && T > maxPositions {
		return nil, nil, fmt.Errorf("sequence of %d tokens is longer than the model's %d positions", T, maxPositions)
	}
	if err := CheckIDs(b.IDs, vocab, "input ids"); err != nil {
		return nil, nil, err
	}
	if ids, err = Matrix(b.IDs, B, T, "input ids", 0); err != nil {
		return nil, nil, err
	}
	if mask, err = Matrix(b.AttentionMask, B, T, "attention mask", 1); err != nil {
		return nil, nil, err
	}
	return ids, mask, nil
}
