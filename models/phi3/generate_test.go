package phi3_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
)

// TestGreedyMatchesHuggingFace generates greedily through models.Load and
// generate.Run from the goldens' left-padded prompts and compares the
// tokens with Hugging Face's generate(do_sample=False): the base model, the
// longrope model from 9 tokens (long factors throughout) and from 5 and 3
// tokens, whose generation passes original_max_position_embeddings (the
// cache is computed again there, as Phi3ForCausalLM does).
func TestGreedyMatchesHuggingFace(t *testing.T) {
	for _, tc := range []struct{ family, prefix string }{
		{"phi3/base", ""}, {"phi3/longrope", ""}, {"phi3/longrope", "cross."},
	} {
		t.Run(tc.family+"/"+tc.prefix, func(t *testing.T) {
			g := golden.Load(t, tc.family)
			lm, err := models.LoadCausalLM(filepath.Join(golden.Dir(tc.family), "model"), golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			want := golden.IDs(t, g, tc.prefix+"generate.ids")
			ids, mask := "leftpad.input_ids", "leftpad.attention_mask"
			if tc.prefix != "" {
				ids, mask = tc.prefix+"input_ids", tc.prefix+"attention_mask"
			}
			prompts := golden.Prompts(t, g, ids, mask)
			if len(prompts[0]) == len(prompts[1]) {
				t.Fatalf("golden prompts have the same length %d: nothing is padded", len(prompts[0]))
			}
			outs, err := generate.Run(lm, prompts, generate.Options{MaxNewTokens: len(want[0])})
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
