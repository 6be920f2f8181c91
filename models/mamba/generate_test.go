package mamba_test

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/mamba"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// TestGenerateMatchesTransformers runs the generate package on the golden
// models, loaded through models.LoadCausalLM, from the goldens' two prompts
// of different lengths as one left-padded batch: greedy ids against
// transformers' generate(do_sample=False), and a beam search of 3 beams
// (which reorders the recurrent state in the cache) against its sequences
// and sequences_scores. Every scan mode decodes the same tokens.
func TestGenerateMatchesTransformers(t *testing.T) {
	for _, family := range []string{"mamba", "mamba/untied"} {
		for _, scan := range []modeling.ScanMode{modeling.ScanLoop, modeling.ScanParallel} {
			t.Run(fmt.Sprintf("%s/%v", family, scan), func(t *testing.T) {
				g := golden.Load(t, family)
				lm, err := models.LoadCausalLM(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
				if err != nil {
					t.Fatal(err)
				}
				lm.(*mamba.Model).Scan = scan
				prompts := golden.Prompts(t, g, "leftpad.input_ids", "leftpad.attention_mask")
				if len(prompts[0]) == len(prompts[1]) {
					t.Fatalf("golden prompts have the same length %d: nothing is padded", len(prompts[0]))
				}
				want := golden.IDs(t, g, "generate.ids")
				outs, err := generate.Run(lm, prompts, generate.Options{MaxNewTokens: len(want[0])})
				if err != nil {
					t.Fatal(err)
				}
				for i, out := range outs {
					if !slices.Equal(out.IDs, want[i]) {
						t.Errorf("prompt %d (%d tokens): greedy %v, transformers %v", i, len(prompts[i]), out.IDs, want[i])
					}
				}
				beams := golden.IDs(t, g, "beam.ids")
				scores := tensors.MustCopyFlatData[float32](golden.Float(t, g, "beam.scores"))
				outs, err = generate.Run(lm, prompts, generate.Options{MaxNewTokens: len(beams[0]), NumBeams: 3})
				if err != nil {
					t.Fatal(err)
				}
				for i, out := range outs {
					if !slices.Equal(out.IDs, beams[i]) || math.Abs(out.Score-float64(scores[i])) > 1e-4 {
						t.Errorf("prompt %d: beam search %v (score %.5f), transformers %v (%.5f)", i, out.IDs, out.Score, beams[i], scores[i])
					}
				}
			})
		}
	}
}

// TestRegistered checks that models.Load reads model_type "mamba" (that
// an unknown type lists it among the supported ones is models'
// TestUnknownModelTypeListsSupported).
func TestRegistered(t *testing.T) {
	m, err := models.Load(filepath.Join(golden.Dir("mamba"), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*mamba.Model); !ok || m.ModelType() != "mamba" {
		t.Errorf("models.Load gave a %T of model_type %q", m, m.ModelType())
	}
}
