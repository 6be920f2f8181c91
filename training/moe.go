package training

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// AuxLoss is an auxiliary training loss that a model computes from what
// its network recorded in g while the loss built the forward pass (see
// modeling.Scope.Record), given the batch's attention mask [B, T] (nil:
// no padding): a mixture of experts' router load-balancing loss, such as
// mixtral.Model.RouterAuxLoss.
type AuxLoss func(g *Graph, mask *Node) *Node

// CausalLMLossWithAux is Hugging Face's *ForCausalLM training loss for a
// model with an auxiliary loss (MixtralForCausalLM with
// output_router_logits): the mean next-token cross-entropy over the
// targets that are not negative, plus aux. Batches are [ids, targets] or
// [ids, targets, mask] ([B, T] int32 each): targets[t] is the token that
// follows ids[t] (Hugging Face's labels shifted left by one, with -100 at
// the end and wherever a label is ignored), and the mask (1 = a real
// token) hides padding from attention and from the auxiliary loss.
// Positions are 0..T-1.
func CausalLMLossWithAux(d *modeling.Decoder, aux AuxLoss) LossFunc {
	return func(g *Graph, batch []*Node) *Node {
		ids, targets := batch[0], batch[1]
		var mask *Node
		if len(batch) > 2 {
			mask = batch[2]
		}
		positions := Iota(g, shapes.Make(dtypes.Int32, ids.Shape().Dimensions...), 1)
		logits, _, _ := d.ForwardGraph(ids, positions, mask)
		return Add(MaskedCrossEntropy(logits, targets), aux(g, mask))
	}
}
