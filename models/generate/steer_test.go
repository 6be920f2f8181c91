package generate

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// TestSteeredGenerationMatchesPyTorch generates greedily with a steering
// vector added to block 0's output at every step (Options.Hooks), and
// compares the tokens with transformers' generate() under a PyTorch
// forward hook that adds the same vector (scripts/reference/hooks.py); the
// plain generation must differ, or the vector would prove nothing.
func TestSteeredGenerationMatchesPyTorch(t *testing.T) {
	for _, family := range []string{"gpt2", "llama"} {
		t.Run(family, func(t *testing.T) {
			ref, err := weights.ReadSafetensors(filepath.Join(golden.Dir("hooks"), family+".safetensors"))
			if err != nil {
				t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/hooks.py)", err)
			}
			lm, err := models.LoadCausalLM(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			prompt := golden.IDs(t, ref, "input_ids")[0][:5]
			want := golden.IDs(t, ref, "steer.generate")[0]
			steer := &modeling.Hooks{Interventions: []modeling.Intervention{
				{Hook: modeling.BlockHook(0, modeling.HookResidPost), Add: golden.Float(t, ref, "steer.vector")}}}
			got, err := Generate(lm, prompt, Options{MaxNewTokens: len(want), Hooks: steer})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("steered greedy ids %v, transformers with the hook %v", got, want)
			}
			plain, err := Generate(lm, prompt, Options{MaxNewTokens: len(want)})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(plain, want) {
				t.Errorf("the plain generation %v equals the steered one: the vector changes nothing", plain)
			}
			bad := &modeling.Hooks{Interventions: []modeling.Intervention{{Hook: "blocks.7.resid_post", Add: golden.Float(t, ref, "steer.vector")}}}
			if _, err := Generate(lm, prompt, Options{MaxNewTokens: 2, Hooks: bad}); err == nil {
				t.Error("steering at a layer the model lacks: no error")
			}
		})
	}
}
