package modeling

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// DropoutRNG is the Store path of the random stream dropout draws from.
const DropoutRNG = "/dropout/rng"

// SeedDropout sets the random stream that dropout (Scope.Dropout) draws
// from in training graphs to the start of seed's; each training step's
// graph advances it. A trainer calls it once, and saves and restores the
// stream with its checkpoints (DropoutState, SetDropoutState).
func (p *Params) SeedDropout(seed uint64) error {
	state, err := graph.RNGStateFromSeed(int64(seed))
	if err != nil {
		return err
	}
	if p.rng == nil {
		v, err := p.Store.CreateVariable(DropoutRNG, state)
		if err != nil {
			return err
		}
		p.rng = v.SetTrainable(false)
		p.generation++
		return nil
	}
	return p.rng.SetValue(state)
}

// DropoutState returns the dropout stream's state (nil before SeedDropout).
func (p *Params) DropoutState() ([]uint64, error) {
	if p.rng == nil {
		return nil, nil
	}
	v, err := p.rng.Value()
	if err != nil {
		return nil, err
	}
	return tensors.MustCopyFlatData[uint64](v), nil
}

// SetDropoutState restores a state DropoutState returned.
func (p *Params) SetDropoutState(state []uint64) error {
	if p.rng == nil {
		return fmt.Errorf("modeling: dropout stream not seeded (SeedDropout)")
	}
	if want := graph.RNGStateShape.Size(); len(state) != want {
		return fmt.Errorf("modeling: a dropout stream state has %d values, got %d", want, len(state))
	}
	return p.rng.SetValue(tensors.FromFlatDataAndDimensions(slices.Clone(state), graph.RNGStateShape.Dimensions...))
}

// MarkTraining marks g as a training graph: dropout is active in it.
func (p *Params) MarkTraining(g *graph.Graph) { g.AttachState(trainingGraph{}, true) }

// trainingGraph is the key of the graph state MarkTraining attaches.
type trainingGraph struct{}

// dropout is Scope.Dropout on the weights' stream.
func (p *Params) dropout(x *graph.Node, rate float64) *graph.Node {
	g := x.Graph()
	if p.rng == nil || g.State(trainingGraph{}) == nil {
		return x
	}
	state, u := graph.RandomUniform(p.rng.NodeValue(g), x.Shape())
	p.rng.SetNodeValue(state)
	keep := graph.GreaterOrEqual(u, graph.Scalar(g, x.DType(), rate))
	return graph.Where(keep, graph.MulScalar(x, 1/(1-rate)), graph.ZerosLike(x))
}
