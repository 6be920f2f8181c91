package generate

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
)

// TestGreedyMatchesHuggingFace generates greedily from the goldens' two
// prompts of different lengths as one batch (the shorter left padded) and
// compares the tokens with Hugging Face's generate(do_sample=False) on the
// same left-padded batch, for every causal family.
func TestGreedyMatchesHuggingFace(t *testing.T) {
	for _, family := range []string{"gpt2", "llama", "llama3", "mistral", "gemma2", "gemma3"} {
		t.Run(family, func(t *testing.T) {
			g := golden.Load(t, family)
			lm, err := models.LoadCausalLM(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			want := golden.IDs(t, g, "generate.ids")
			prompts := golden.Prompts(t, g, "leftpad.input_ids", "leftpad.attention_mask")
			if len(prompts[0]) == len(prompts[1]) {
				t.Fatalf("golden prompts have the same length %d: nothing is padded", len(prompts[0]))
			}
			outs, err := Run(lm, prompts, Options{MaxNewTokens: len(want[0])})
			if err != nil {
				t.Fatal(err)
			}
			for i, out := range outs {
				if !slices.Equal(out.IDs, want[i]) {
					t.Errorf("prompt %d (%d tokens): greedy %v, Hugging Face generate %v", i, len(prompts[i]), out.IDs, want[i])
				}
			}
		})
	}
}
