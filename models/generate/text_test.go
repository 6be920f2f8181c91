package generate

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// tinyGPT2 is a small random GPT-2 over the real GPT-2 vocabulary, so that
// generated tokens decode to text (byte-level pieces, multi-byte characters
// split across tokens included).
func tinyGPT2(t *testing.T) *Generator {
	t.Helper()
	tok, err := tokenizer.Load(assets.Require(t, assets.GPT2Encoder))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &gpt2.Config{VocabSize: tok.VocabSize(), NPositions: 128, NEmbd: 32, NLayer: 2, NHead: 4, InitializerRange: 0.5}
	m, err := gpt2.NewRandom(cfg, 3, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return &Generator{Model: m, Tokenizer: tok}
}

func TestSameSeedSameText(t *testing.T) {
	g := tinyGPT2(t)
	opts := Options{MaxNewTokens: 20, Temperature: 1, TopK: 50, Seed: 11}
	a, err := g.Generate("To be, or not to be", opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := g.Generate("To be, or not to be", opts)
	if a.Text != b.Text || !slices.Equal(a.IDs, b.IDs) {
		t.Fatalf("same seed, different text: %q vs %q", a.Text, b.Text)
	}
}

func TestStreamingEqualsGenerate(t *testing.T) {
	g := tinyGPT2(t)
	for seed := range uint64(3) {
		opts := Options{MaxNewTokens: 40, Temperature: 1.2, Seed: seed}
		want, err := g.Generate("Good morrow", opts)
		if err != nil {
			t.Fatal(err)
		}
		var pieces []string
		for piece, err := range g.Stream("Good morrow", opts) {
			if err != nil {
				t.Fatal(err)
			}
			pieces = append(pieces, piece)
		}
		if got := strings.Join(pieces, ""); got != want.Text {
			t.Fatalf("seed %d: streamed %q, generated %q", seed, got, want.Text)
		}
		for _, p := range pieces {
			if r, _ := utf8.DecodeLastRuneInString(p); r == utf8.RuneError && !strings.HasSuffix(p, "\uFFFD") {
				t.Fatalf("seed %d: piece %q ends inside a character", seed, p)
			}
		}
	}
}

func TestBatchEqualsEachPromptAlone(t *testing.T) {
	g := tinyGPT2(t)
	prompts := []string{"Hi", "What light through yonder window breaks", "A horse! a horse!"}
	for _, opts := range []Options{
		{MaxNewTokens: 12},
		{MaxNewTokens: 12, Temperature: 0.9, TopP: 0.9, Seed: 5, RepetitionPenalty: 1.3},
	} {
		batch, err := g.Batch(prompts, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range prompts {
			alone, err := g.Generate(p, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(batch[i].IDs, alone.IDs) {
				t.Errorf("prompt %q (T=%v): batch gave %v, alone %v", p, opts.Temperature, batch[i].IDs, alone.IDs)
			}
		}
	}
}

func TestStopStrings(t *testing.T) {
	g := tinyGPT2(t)
	free, err := g.Generate("Once", Options{MaxNewTokens: 30, Temperature: 1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(free.Text) < 6 {
		t.Skipf("generation too short to cut: %q", free.Text)
	}
	// Stop at a piece of text the unconstrained run produced.
	stop := free.Text[len(free.Text)/2 : len(free.Text)/2+3]
	got, err := g.Generate("Once", Options{MaxNewTokens: 30, Temperature: 1, Seed: 2, StopStrings: []string{stop}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got.Text, stop) || got.Reason != StopString || !strings.HasPrefix(free.Text, got.Text) {
		t.Fatalf("stop %q: got %q (reason %s) from %q", stop, got.Text, got.Reason, free.Text)
	}
	var streamed strings.Builder
	for piece, err := range g.Stream("Once", Options{MaxNewTokens: 30, Temperature: 1, Seed: 2, StopStrings: []string{stop}}) {
		if err != nil {
			t.Fatal(err)
		}
		streamed.WriteString(piece)
	}
	if streamed.String() != got.Text {
		t.Fatalf("streamed with stop string %q, generated %q", streamed.String(), got.Text)
	}
}

func TestLogProbs(t *testing.T) {
	g := tinyGPT2(t)
	r, err := g.Generate("The", Options{MaxNewTokens: 5, TopLogProbs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != len(r.IDs) {
		t.Fatalf("%d steps for %d tokens", len(r.Steps), len(r.IDs))
	}
	for i, s := range r.Steps {
		// Greedy: the chosen token is the most likely one.
		if s.ID != r.IDs[i] || len(s.Top) != 3 || s.Top[0].ID != s.ID || s.LogProb > 0 || s.Top[1].LogProb > s.Top[0].LogProb {
			t.Fatalf("step %d: %+v", i, s)
		}
	}
}
