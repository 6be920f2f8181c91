package models

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/xla"
)

// TestActivationPatchingSmolLM2 runs the activation-patching experiment of
// scripts/reference/hooks.py on the real SmolLM2-135M-Instruct: the input
// of a layer at one position of the corrupted prompt (the Colosseum's city)
// replaced by the clean prompt's (the Eiffel Tower's), and the logit
// difference logit(" Paris") - logit(" Rome") at the last position, which
// PyTorch hooks on transformers' LlamaForCausalLM gave for every layer and
// position. Five layers spread over the thirty, at every position, must
// agree to 1e-3.
func TestActivationPatchingSmolLM2(t *testing.T) {
	// The engines' hooks are the goldens' to check (TestHooksMatchPyTorch
	// runs in every engine pass); this real-model check runs once, on go.
	lm, err := LoadCausalLM(assets.RequireModel(t, assets.SmolLM2), xla.MustNew("go"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := weights.ReadSafetensors(filepath.Join("testdata", "hooks", "smollm2_patching.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/hooks.py)", err)
	}
	clean, corrupt := golden.IDs(t, ref, "clean_ids"), golden.IDs(t, ref, "corrupt_ids")
	targets := golden.IDs(t, ref, "targets")[0]
	grid := golden.Float(t, ref, "patching")
	want := tensors.MustCopyFlatData[float32](grid)
	layers, T := grid.Shape().Dimensions[0], grid.Shape().Dimensions[1]
	diff := func(ids [][]int32, hooks *modeling.Hooks) (float64, *modeling.Output) {
		t.Helper()
		out, err := lm.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{Hooks: hooks})
		if err != nil {
			t.Fatal(err)
		}
		logits := tensors.MustCopyFlatData[float32](out.Logits)
		vocab := out.Logits.Shape().Dimensions[2]
		last := logits[(T-1)*vocab:]
		return float64(last[targets[0]] - last[targets[1]]), out
	}
	picked := []int{0, 7, 15, 22, layers - 1}
	var names []string
	for _, l := range picked {
		names = append(names, modeling.BlockHook(l, modeling.HookResidPre))
	}
	cleanDiff, cleanOut := diff(clean, &modeling.Hooks{Cache: names})
	corruptDiff, _ := diff(corrupt, nil)
	for what, got := range map[string]float64{"clean_diff": cleanDiff, "corrupt_diff": corruptDiff} {
		if w := float64(tensors.MustCopyFlatData[float32](golden.Float(t, ref, what))[0]); math.Abs(got-w) > 1e-3 {
			t.Errorf("%s = %.5f, PyTorch %.5f", what, got, w)
		}
	}
	for i, l := range picked {
		for p := range T {
			got, _ := diff(corrupt, &modeling.Hooks{Interventions: []modeling.Intervention{
				{Hook: names[i], Positions: []int{p}, Set: cleanOut.Cache[names[i]]}}})
			if w := float64(want[l*T+p]); math.Abs(got-w) > 1e-3 {
				t.Errorf("layer %d, position %d: logit difference %.5f, PyTorch %.5f", l, p, got, w)
			}
		}
	}
	t.Logf("clean %.3f, corrupt %.3f, %d patches checked", cleanDiff, corruptDiff, len(picked)*T)
}
