package models_test

import (
	"fmt"
	"path/filepath"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Hooks cache a model's activations, patch one prompt's into another's run
// and steer it, in forward passes of the same compiled program.
func Example_hooks() {
	lm, err := models.LoadCausalLM(filepath.Join(golden.Dir("llama"), "model"), xla.MustNew("go"))
	if err != nil {
		panic(err)
	}
	clean, corrupt := [][]int32{{5, 9, 23, 7}}, [][]int32{{5, 9, 41, 7}} // the same but at position 2
	point := modeling.BlockHook(1, modeling.HookResidPre)                // the second block's input
	run := func(ids [][]int32, hooks *modeling.Hooks) *modeling.Output {
		out, err := lm.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{Hooks: hooks})
		if err != nil {
			panic(err)
		}
		return out
	}
	cached := run(clean, &modeling.Hooks{Cache: []string{point}})
	fmt.Println(point, cached.Cache[point].Shape())

	// Patch: the corrupted run, with the clean run's input of the second block
	// where the prompts differ (position 2) and after it: its last logits are
	// the clean run's.
	patched := run(corrupt, &modeling.Hooks{Interventions: []modeling.Intervention{
		{Hook: point, Positions: []int{2, 3}, Set: cached.Cache[point]}}})
	last := func(o *modeling.Output) []float32 { // the logits of the last position
		flat := tensors.MustCopyFlatData[float32](o.Logits)
		return flat[len(flat)-o.Logits.Shape().Dimensions[2]:]
	}
	fmt.Println("patched last position = clean:", equal(last(patched), last(cached)))

	// Steer: a vector added to every position of the second block's input.
	vector := make([]float32, cached.Cache[point].Shape().Dimensions[2])
	vector[0] = 10
	steered := run(clean, &modeling.Hooks{Interventions: []modeling.Intervention{{Hook: point, Add: tensors.FromValue(vector)}}})
	fmt.Println("steered last position = clean:", equal(last(steered), last(cached)))

	_, err = lm.Forward(modeling.Batch{IDs: clean}, modeling.ForwardOptions{Hooks: &modeling.Hooks{Cache: []string{"blocks.7.resid_pre"}}})
	fmt.Println(err)
	// Output:
	// blocks.1.resid_pre (Float32)[1, 4, 32]
	// patched last position = clean: true
	// steered last position = clean: false
	// hook "blocks.7.resid_pre" does not exist in this network; its hook points are embed, final_norm, blocks.{0…1}.{attn_out, attn_pattern, mlp_out, resid_post, resid_pre}
}

// equal reports whether a and b agree to 1e-5.
func equal(a, b []float32) bool {
	for i := range a {
		if d := a[i] - b[i]; d > 1e-5 || d < -1e-5 {
			return false
		}
	}
	return true
}
