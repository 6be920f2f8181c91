package sft

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/training/lora"
)

// TestGenerate: the same seed gives the same problems, train and held-out
// questions never overlap, every kind appears, and each answer is right.
func TestGenerate(t *testing.T) {
	train, held, err := Generate(7, 200, 50)
	if err != nil {
		t.Fatal(err)
	}
	again, heldAgain, _ := Generate(7, 200, 50)
	if !slices.Equal(train, again) || !slices.Equal(held, heldAgain) {
		t.Error("the same seed gave other problems")
	}
	if other, _, _ := Generate(8, 200, 50); slices.Equal(other, train) {
		t.Error("another seed gave the same problems")
	}
	seen := map[string]bool{}
	kinds := map[string]int{}
	for _, p := range train {
		seen[p.Question] = true
		kinds[p.Kind]++
	}
	for _, p := range held {
		if seen[p.Question] {
			t.Errorf("held-out question %q is also a training one", p.Question)
		}
	}
	if len(kinds) != len(problemKinds) {
		t.Errorf("kinds drawn: %v", kinds)
	}
	for _, p := range append(train, held...) {
		if !p.Correct(p.Answer) || p.Answer == "" {
			t.Errorf("%+v: its own answer is graded wrong", p)
		}
	}
	if _, _, err := Generate(1, 10000, 10000); err == nil {
		t.Error("more problems than the task has: no error")
	}
}

// TestExtract grades replies by exact match after the simple clean-up.
func TestExtract(t *testing.T) {
	for _, c := range []struct {
		kind, reply, answer string
		right               bool
	}{
		{"add", "85", "85", true},
		{"add", " 85.\n", "85", true},
		{"km_to_m", "7,000", "7000", true},
		{"km_to_m", "7000 meters", "7000", false},
		{"add", "The answer is 85.", "85", false},
		{"add", "86", "85", false},
		{"sub", "-5", "-5", true},
		{"reverse", `"Tac"`, "tac", true},
		{"reverse", "tac\nbecause", "tac", true},
		{"reverse", "cat", "tac", false},
		{"hours_to_minutes", "", "180", false},
	} {
		p := Problem{Kind: c.kind, Answer: c.answer}
		if got := p.Correct(c.reply); got != c.right {
			t.Errorf("%s %q for %q: graded %v (extracted %q)", c.kind, c.reply, c.answer, got, Extract(c.kind, c.reply))
		}
	}
	problems := []Problem{{Kind: "add", Answer: "1"}, {Kind: "add", Answer: "2"}}
	if acc := Accuracy(problems, []string{"1", "3"}); acc != 0.5 {
		t.Errorf("accuracy %v, want 0.5", acc)
	}
}

// TestWriteJSONLReadsAsChat: the task file is chat JSONL that
// training.ReadSFTFile reads back turn for turn.
func TestWriteJSONLReadsAsChat(t *testing.T) {
	train, _, _ := Generate(3, 5, 1)
	path := filepath.Join(t.TempDir(), "train.jsonl")
	if err := WriteJSONL(path, train); err != nil {
		t.Fatal(err)
	}
	examples, err := training.ReadSFTFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, ex := range examples {
		if !slices.Equal(ex.Messages, train[i].Messages(true)) {
			t.Errorf("example %d: %+v, want %+v", i, ex.Messages, train[i].Messages(true))
		}
	}
}

// TestTrainingTemplateIsTheTestdataOne keeps the embedded template equal to
// the one training's TRL goldens were made with.
func TestTrainingTemplateIsTheTestdataOne(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "models", "testdata", "sft", "smollm2_training.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	if TrainingTemplate != string(want) {
		t.Error("smollm2_training.jinja differs from models/testdata/sft/smollm2_training.jinja")
	}
}

// TestSaveMergedRoundTrip adapts the golden LLaMA with random adapters,
// saves it merged with a tokenizer, and loads the folder back: the same
// logits as the adapted model, and the tokenizer with its chat template.
func TestSaveMergedRoundTrip(t *testing.T) {
	backend := golden.Backend(t)
	m, err := llama.Load(filepath.Join(golden.Dir("llama"), "model"), backend)
	if err != nil {
		t.Fatal(err)
	}
	a, err := lora.Apply(m.Params(), lora.Config{Rank: 4, Alpha: 8, Targets: []string{"q_proj", "v_proj", "down_proj"}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range a.Names() {
		shape := m.Params().Variable(name).Shape()
		data := make([]float32, shape.Size())
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.2)
		}
		if err := m.Params().Set(name, tensors.FromFlatDataAndDimensions(data, shape.Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
	batch := modeling.Batch{IDs: [][]int32{{1, 5, 9, 30, 2, 7}}}
	adapted, err := m.Decoder.Forward(batch, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(assets.RequireModel(t, assets.SmolLM2))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveMerged(dir, m, a, tok); err != nil {
		t.Fatal(err)
	}
	back, err := llama.Load(dir, backend)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := back.Decoder.Forward(batch, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	diff, _, err := golden.MaxAbsDiff(merged.Logits, adapted.Logits)
	if err != nil || diff > 1e-5 {
		t.Errorf("merged folder's logits differ from the adapted model's by %g (%v)", diff, err)
	}
	backTok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if backTok.ChatTemplate() != tok.ChatTemplate() || !slices.Equal(backTok.Encode("What is 7 + 8?"), tok.Encode("What is 7 + 8?")) {
		t.Error("the merged folder's tokenizer differs from the model's")
	}
}

// trlGolden is what scripts/reference/sft_trl.py --golden writes.
type trlGolden struct {
	Config struct {
		Train       int      `json:"train_examples"`
		HeldOut     int      `json:"held_out_examples"`
		MaxLength   int      `json:"max_length"`
		BatchSize   int      `json:"batch_size"`
		Iters       int      `json:"max_steps"`
		LR          float64  `json:"learning_rate"`
		WeightDecay float64  `json:"weight_decay"`
		GradClip    float64  `json:"max_grad_norm"`
		Rank        int      `json:"lora_r"`
		Alpha       float64  `json:"lora_alpha"`
		Targets     []string `json:"target_modules"`
		Seed        uint64   `json:"seed"`
	} `json:"config"`
	Losses []float64 `json:"trl_losses"`
}

// TestLossesMatchTRL trains the real SmolLM2-135M-Instruct as lab/sft does,
// with the small settings of testdata/trl_losses.json, and compares every
// step's loss with what TRL's SFTTrainer + PEFT computed from the same
// initial adapters on the same packed batches at the same learning rates
// (scripts/reference/sft_trl.py --golden): within 1e-3. It takes about a
// minute on two cores; -short skips it.
func TestLossesMatchTRL(t *testing.T) {
	if testing.Short() {
		t.Skip("trains SmolLM2 for 20 steps; run without -short")
	}
	model := assets.RequireModel(t, assets.SmolLM2)
	data, err := os.ReadFile(filepath.Join("testdata", "trl_losses.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g trlGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	gc := g.Config
	c := Config{Model: model, Train: gc.Train, HeldOut: gc.HeldOut, MaxLength: gc.MaxLength, BatchSize: gc.BatchSize,
		Iters: gc.Iters, LR: gc.LR, WeightDecay: gc.WeightDecay, GradClip: gc.GradClip, Rank: gc.Rank, Alpha: gc.Alpha,
		Targets: gc.Targets, Seed: gc.Seed, MaxNewTokens: 1, NoMerged: true, Backend: testBackend()}
	res, err := Train(c, t.TempDir(), new(strings.Builder), new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Losses) != len(g.Losses) {
		t.Fatalf("%d losses, TRL's file has %d", len(res.Losses), len(g.Losses))
	}
	worst := 0.0
	for i, want := range g.Losses {
		d := math.Abs(res.Losses[i] - want)
		worst = max(worst, d)
		if d > 1e-3 {
			t.Errorf("step %d: loss %.5f, TRL %.5f (diff %.1e)", i, res.Losses[i], want, d)
		}
	}
	t.Logf("%d steps: largest difference from TRL %.2e (first loss %.4f, last %.4f)", len(g.Losses), worst, g.Losses[0], g.Losses[len(g.Losses)-1])
}

// testBackend is the engine under test (TRUSTFORMERS_TEST_BACKEND), go by
// default, as golden.Backend picks it.
func testBackend() string {
	if b := os.Getenv("TRUSTFORMERS_TEST_BACKEND"); b != "" {
		return b
	}
	return "go"
}

// TestAnswersRoundTrip: answers.jsonl reads back as written.
func TestAnswersRoundTrip(t *testing.T) {
	_, held, _ := Generate(5, 1, 3)
	var res Result
	res.grade(held, []string{"x", held[1].Answer, ""}, []string{held[0].Answer, "y", held[2].Answer})
	path := filepath.Join(t.TempDir(), "answers.jsonl")
	if err := writeAnswers(path, res.Answers); err != nil {
		t.Fatal(err)
	}
	back, err := ReadAnswers(path)
	if err != nil || !slices.Equal(back, res.Answers) {
		t.Errorf("read back %+v (%v), wrote %+v", back, err, res.Answers)
	}
	if math.Abs(res.Before-1.0/3) > 1e-9 || math.Abs(res.After-2.0/3) > 1e-9 {
		t.Errorf("accuracy %v before, %v after; want 1/3, 2/3", res.Before, res.After)
	}
}

// TestBadSettings checks that a setting that cannot run is an error naming
// its flag, before anything is loaded.
func TestBadSettings(t *testing.T) {
	for flag, c := range map[string]Config{
		"-quant":   func() Config { c := DefaultConfig(); c.Quant = "int3"; return c }(),
		"rank":     func() Config { c := DefaultConfig(); c.Rank = 0; return c }(),
		"held-out": func() Config { c := DefaultConfig(); c.HeldOut = 0; return c }(),
	} {
		if err := c.check("sft"); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: err = %v, want it to name the flag", flag, err)
		}
	}
}
