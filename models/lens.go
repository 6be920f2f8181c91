package models

import (
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// LogitLens returns what lm's head reads from each layer's residual stream
// on b (nostalgebraist's logit lens): for every layer, its input passed
// through the final norm and the head, [B, T, vocab] each, then the
// model's own logits (the last layer's output), num_layers+1 tensors in
// all. Each layer's lens is a forward pass that sets the last block's
// output (the final norm's input) to that layer's input, through the hook
// point modeling.HookResidPost: one compiled program serves every layer,
// at the cost of a forward pass each.
func LogitLens(lm CausalLM, b modeling.Batch) ([]*tensors.Tensor, error) {
	out, err := lm.Forward(b, modeling.ForwardOptions{HiddenStates: true})
	if err != nil {
		return nil, fmt.Errorf("logit lens: %w", err)
	}
	layers := len(out.HiddenStates) - 1
	if layers < 1 {
		return nil, fmt.Errorf("logit lens: the model returned %d hidden states", len(out.HiddenStates))
	}
	last := modeling.BlockHook(layers-1, modeling.HookResidPost)
	lens := make([]*tensors.Tensor, 0, layers+1)
	for i := range layers {
		lensed, err := lm.Forward(b, modeling.ForwardOptions{Hooks: &modeling.Hooks{
			Interventions: []modeling.Intervention{{Hook: last, Set: out.HiddenStates[i]}}}})
		if err != nil {
			return nil, fmt.Errorf("logit lens, layer %d: %w", i, err)
		}
		lens = append(lens, lensed.Logits)
	}
	return append(lens, out.Logits), nil
}
