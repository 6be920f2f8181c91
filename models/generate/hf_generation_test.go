package generate

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
)

// generationGolden is models/testdata/golden/generation.json, written by
// scripts/reference/generation.py from Hugging Face's generate() and its
// warpers.
type generationGolden struct {
	Transformers string
	Beam         []generationCase
	Greedy       []generationCase
	Warpers      []struct {
		Options hfOptions
		Logits  [][]float32
		Kept    [][]int
	}
}

type generationCase struct {
	Family  string
	Prompts [][]int32
	Options hfOptions
	Outputs []struct {
		Sequences [][]int32
		Scores    []float64
	}
}

// hfOptions are the generate() keyword arguments the reference used.
type hfOptions struct {
	NumBeams           int     `json:"num_beams,omitempty"`
	MaxNewTokens       int     `json:"max_new_tokens,omitempty"`
	EOS                *int32  `json:"eos_token_id,omitempty"`
	NumReturnSequences int     `json:"num_return_sequences,omitempty"`
	EarlyStopping      any     `json:"early_stopping,omitempty"`
	LengthPenalty      float64 `json:"length_penalty,omitempty"`
	NoRepeatNGram      int     `json:"no_repeat_ngram_size,omitempty"`
	RepetitionPenalty  float64 `json:"repetition_penalty,omitempty"`
	SuppressTokens     []int32 `json:"suppress_tokens,omitempty"`
	MinNewTokens       int     `json:"min_new_tokens,omitempty"`
	Temperature        float64 `json:"temperature,omitempty"`
	TopK               int     `json:"top_k,omitempty"`
	TopP               float64 `json:"top_p,omitempty"`
	MinP               float64 `json:"min_p,omitempty"`
	TypicalP           float64 `json:"typical_p,omitempty"`
}

func (h hfOptions) String() string {
	b, _ := json.Marshal(h)
	return string(b)
}

// options translates the reference's arguments into Options.
func (h hfOptions) options(t *testing.T) Options {
	o := Options{NumBeams: h.NumBeams, MaxNewTokens: h.MaxNewTokens, NumReturnSequences: h.NumReturnSequences,
		LengthPenalty: h.LengthPenalty, RepetitionPenalty: h.RepetitionPenalty, MinNewTokens: h.MinNewTokens,
		Temperature: h.Temperature, TopK: h.TopK, TopP: h.TopP, MinP: h.MinP, TypicalP: h.TypicalP}
	if h.EOS != nil {
		o.StopIDs = []int32{*h.EOS}
	}
	switch h.EarlyStopping {
	case nil, false:
	case true:
		o.EarlyStopping = EarlyStopDone
	case "never":
		o.EarlyStopping = EarlyStopNever
	default:
		t.Fatalf("early_stopping %v", h.EarlyStopping)
	}
	if h.NoRepeatNGram > 0 {
		o.Processors = append(o.Processors, NoRepeatNGram(h.NoRepeatNGram))
	}
	if len(h.SuppressTokens) > 0 {
		o.Processors = append(o.Processors, BanTokens(h.SuppressTokens...))
	}
	return o
}

func loadGenerationGolden(t *testing.T) *generationGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(golden.Dir(""), "generation.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with .deps/venv/bin/python scripts/reference/generation.py)", err)
	}
	var g generationGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Beam) == 0 || len(g.Greedy) == 0 || len(g.Warpers) == 0 {
		t.Fatalf("generation.json holds %d beam, %d greedy and %d warper cases; want some of each", len(g.Beam), len(g.Greedy), len(g.Warpers))
	}
	return &g
}

// checkCases runs every case's prompts as one batch and compares each
// prompt's outputs with what Hugging Face generated for it alone.
func checkCases(t *testing.T, cases []generationCase) {
	backend := golden.Backend(t)
	lms := map[string]models.CausalLM{}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", c.Family, i), func(t *testing.T) {
			t.Logf("options %s", c.Options)
			lm := lms[c.Family]
			if lm == nil {
				var err error
				if lm, err = models.LoadCausalLM(filepath.Join(golden.Dir(c.Family), "model"), backend); err != nil {
					t.Fatal(err)
				}
				lms[c.Family] = lm
			}
			opts := c.Options.options(t)
			outs, err := Run(lm, c.Prompts, opts)
			if err != nil {
				t.Fatal(err)
			}
			n := max(opts.NumReturnSequences, 1)
			if len(outs) != n*len(c.Prompts) {
				t.Fatalf("%d outputs for %d prompts × %d sequences", len(outs), len(c.Prompts), n)
			}
			for p, want := range c.Outputs {
				for j, seq := range want.Sequences {
					got := outs[p*n+j]
					wantIDs := seq
					if len(seq) > 0 && slices.Contains(opts.StopIDs, seq[len(seq)-1]) {
						wantIDs = seq[:len(seq)-1]
						if got.Reason != StopToken {
							t.Errorf("prompt %d sequence %d: reason %q, want %q", p, j, got.Reason, StopToken)
						}
					}
					if !slices.Equal(got.IDs, wantIDs) {
						t.Errorf("prompt %d %v sequence %d: %v, transformers %v", p, c.Prompts[p], j, got.IDs, wantIDs)
					}
					if want.Scores != nil && math.Abs(got.Score-want.Scores[j]) > 1e-4*math.Max(1, math.Abs(want.Scores[j])) {
						t.Errorf("prompt %d sequence %d: score %.6f, transformers %.6f", p, j, got.Score, want.Scores[j])
					}
				}
			}
		})
	}
}

// TestBeamSearchMatchesTransformers: every hypothesis and its score, for
// the length penalties, early-stopping modes and processors of the
// reference, on GPT-2, LLaMA and Mistral.
func TestBeamSearchMatchesTransformers(t *testing.T) {
	checkCases(t, loadGenerationGolden(t).Beam)
}

// TestProcessorsMatchTransformers: greedy decoding with no-repeat n-grams,
// suppressed tokens, a minimum length and the repetition penalty.
func TestProcessorsMatchTransformers(t *testing.T) {
	checkCases(t, loadGenerationGolden(t).Greedy)
}

// TestWarpersMatchTransformers: the tokens sampling may draw after
// temperature, top-k, top-p, min-p and typical-p are those Hugging Face's
// warpers leave finite.
func TestWarpersMatchTransformers(t *testing.T) {
	for _, w := range loadGenerationGolden(t).Warpers {
		opts := w.Options.options(t)
		if opts.Temperature == 0 {
			opts.Temperature = 1
		}
		for i, logits := range w.Logits {
			idx, probs := filtered(logits, opts)
			got := slices.Sorted(slices.Values(idx))
			if !slices.Equal(got, w.Kept[i]) {
				t.Errorf("%+v row %d: keeps %v, transformers %v", w.Options, i, got, w.Kept[i])
			}
			sum := 0.0
			for _, p := range probs {
				sum += p
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("%+v row %d: kept probabilities add up to %v", w.Options, i, sum)
			}
		}
	}
}
