package generate

import (
	"math"
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
		rows, _ := lastRows(out.Logits, 0)
		seq = append(seq, Sample(rows[0], Options{}, nil))
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
	if got := Sample(logits, Options{}, rng); got != 1 {
		t.Fatalf("greedy = %d, want 1", got)
	}
	for range 200 {
		if got := Sample(logits, Options{Temperature: 1, TopK: 2}, rng); got != 1 && got != 3 {
			t.Fatalf("top-k 2 sampled %d", got)
		}
		// softmax([0 3 1 2]) = [.032 .644 .087 .237]: top-p 0.6 keeps only token 1.
		if got := Sample(logits, Options{Temperature: 1, TopP: 0.6}, rng); got != 1 {
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

func TestHooks(t *testing.T) {
	lm, err := models.LoadCausalLM(filepath.Join(golden.Dir("gpt2"), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int32{5, 17, 3}
	// A user processor that leaves only token 7 possible, and a criterion
	// that ends the row after three tokens.
	only7 := LogitsFunc(func(ids []int32, scores []float32) {
		if !slices.Equal(ids[:len(prompt)], prompt) {
			t.Errorf("processor saw %v, not the prompt %v first", ids, prompt)
		}
		for i := range scores {
			if i != 7 {
				scores[i] = float32(math.Inf(-1))
			}
		}
	})
	three := StopWhen(func(generated []int32) bool { return len(generated) == 3 })
	for _, temperature := range []float64{0, 1} {
		outs, err := Run(lm, [][]int32{prompt}, Options{MaxNewTokens: 10, Temperature: temperature, Processors: []LogitsProcessor{only7}, Stopping: []StoppingCriterion{three}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(outs[0].IDs, []int32{7, 7, 7}) || outs[0].Reason != StopCriteria {
			t.Errorf("temperature %v: %v (%s), want [7 7 7] stopped by the criterion", temperature, outs[0].IDs, outs[0].Reason)
		}
	}

	// Sampled return sequences: the j-th of a prompt is the same in a batch
	// as alone, and they differ from one another.
	opts := Options{MaxNewTokens: 12, Temperature: 1, Seed: 3, NumReturnSequences: 3}
	batch, err := Run(lm, [][]int32{prompt, {9, 4}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	alone, _ := Run(lm, [][]int32{{9, 4}}, opts)
	if len(batch) != 6 || len(alone) != 3 {
		t.Fatalf("%d and %d outputs, want 6 and 3", len(batch), len(alone))
	}
	for j := range 3 {
		if !slices.Equal(batch[3+j].IDs, alone[j].IDs) {
			t.Errorf("sequence %d of the second prompt: %v in the batch, %v alone", j, batch[3+j].IDs, alone[j].IDs)
		}
	}
	if slices.Equal(alone[0].IDs, alone[1].IDs) && slices.Equal(alone[1].IDs, alone[2].IDs) {
		t.Errorf("three sampled sequences are the same: %v", alone[0].IDs)
	}

	for _, bad := range []Options{
		{MaxNewTokens: 4, NumBeams: 2, Temperature: 0.5},
		{MaxNewTokens: 4, NumBeams: 2, NumReturnSequences: 3},
		{MaxNewTokens: 4, NumBeams: 2, EarlyStopping: "sometimes"},
		{MaxNewTokens: 4, NumBeams: 2, TopLogProbs: 3},
		{MaxNewTokens: 4, MinP: 2},
		{MaxNewTokens: 4, TypicalP: -1},
	} {
		if _, err := Run(lm, [][]int32{prompt}, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestNoRepeatNGram checks the processor on a sequence by hand: after
// "1 2 3 1 2", a 3-gram ban forbids 3 (which would repeat "1 2 3") and a
// 2-gram ban forbids 3 too (after "2" came "3"), nothing else.
func TestNoRepeatNGram(t *testing.T) {
	ids := []int32{1, 2, 3, 1, 2}
	for _, n := range []int{2, 3} {
		scores := make([]float32, 5)
		NoRepeatNGram(n).Process(ids, scores)
		for id, s := range scores {
			if banned := math.IsInf(float64(s), -1); banned != (id == 3) {
				t.Errorf("n=%d: token %d banned=%v", n, id, banned)
			}
		}
	}
	scores := make([]float32, 5)
	NoRepeatNGram(1).Process(ids, scores) // every token already seen
	for id, s := range scores {
		if banned := math.IsInf(float64(s), -1); banned != (id >= 1 && id <= 3) {
			t.Errorf("n=1: token %d banned=%v", id, banned)
		}
	}
}
