package generate

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
)

func TestGreedyEqualsArgmaxOfFullForward(t *testing.T) {
	lm, err := models.LoadCausalLM(filepath.Join(golden.Dir("gpt2"), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int32{5, 17, 3}
	got, err := Generate(lm, prompt, Options{MaxNewTokens: 6})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: extend the sequence one argmax at a time with full forwards, no cache.
	seq := slices.Clone(prompt)
	for range 6 {
		out, err := lm.Forward(modeling.Batch{IDs: [][]int32{seq}}, modeling.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := lastRows(out.Logits)
		seq = append(seq, Sample(rows[0], 0, 0, 0, nil))
	}
	if !slices.Equal(got, seq[len(prompt):]) {
		t.Fatalf("cached greedy decode %v, full-forward argmax %v", got, seq[len(prompt):])
	}
}

func TestSameSeedSameTokens(t *testing.T) {
	m, err := llama.LoadLlama2C(assets.Require(t, assets.Stories260K), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{MaxNewTokens: 40, Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: 7}
	a, err := Generate(m, []int32{1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(m, []int32{1}, opts)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different tokens:\n%v\n%v", a, b)
	}
	opts.Seed = 8
	c, _ := Generate(m, []int32{1}, opts)
	if slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 gave the same 40 tokens %v", a)
	}
}

func TestSampleFilters(t *testing.T) {
	logits := []float32{0, 3, 1, 2}
	rng := rand.New(rand.NewPCG(1, 2))
	if got := Sample(logits, 0, 0, 0, rng); got != 1 {
		t.Fatalf("greedy = %d, want 1", got)
	}
	for range 200 {
		if got := Sample(logits, 1, 2, 0, rng); got != 1 && got != 3 {
			t.Fatalf("top-k 2 sampled %d", got)
		}
		// softmax([0 3 1 2]) = [.032 .644 .087 .237]: top-p 0.6 keeps only token 1.
		if got := Sample(logits, 1, 0, 0.6, rng); got != 1 {
			t.Fatalf("top-p 0.6 sampled %d", got)
		}
	}
}

func TestContextLimit(t *testing.T) {
	m, err := llama.Load(filepath.Join(golden.Dir("llama"), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	long := make([]int32, m.Config.MaxPositionEmbeddings)
	if _, err := Generate(m, long, Options{MaxNewTokens: 1}); err == nil {
		t.Fatal("a prompt filling the whole context gave no error")
	}
	out, err := Generate(m, long[:60], Options{MaxNewTokens: 10})
	if err != nil || len(out) != 4 {
		t.Fatalf("generation near the context end: %d tokens, err %v; want 4 (stops at the context)", len(out), err)
	}
}

// TestCropContext generates past the context: the first tokens equal the
// cached generation, and generation goes on where the cached one stops.
func TestCropContext(t *testing.T) {
	m, err := llama.Load(filepath.Join(golden.Dir("llama"), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	prompt := make([]int32, 60)
	for i := range prompt {
		prompt[i] = int32(i % 90)
	}
	cached, err := Generate(m, prompt, Options{MaxNewTokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	crop, err := Generate(m, prompt, Options{MaxNewTokens: 10, CropContext: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cached) != 4 || len(crop) != 10 || !slices.Equal(crop[:4], cached) {
		t.Fatalf("cached %v (stops at the 64-token context), cropped %v", cached, crop)
	}
}
