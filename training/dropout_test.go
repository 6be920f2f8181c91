package training

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// dropoutRun is a loop over a tiny GPT-2 whose three dropout rates are
// rate, on a fixed text; its losses and the model come back.
func dropoutRun(t *testing.T, rate float64, seed uint64, dir string) (*Loop, *gpt2.Model, *[]float64) {
	t.Helper()
	backend := golden.Backend(t)
	text := strings.Repeat("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. ", 40)
	v := NewCharVocab(text)
	ids, _ := v.Encode(text)
	data := SplitTokens(ids)
	m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: v.Size(), NPositions: 16, NEmbd: 16, NLayer: 2, NHead: 2,
		ResidPdrop: rate, EmbdPdrop: rate, AttnPdrop: rate}, 5, backend)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m.Params(), backend, CausalLMLoss(m.Decoder), DefaultAdamW(), 1)
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	return &Loop{Trainer: tr, Iters: 8, Schedule: Schedule{LR: 1e-2, MinLR: 1e-3, WarmupIters: 1, DecayIters: 8},
		Batch: data.Sampler("train", 4, 16), EvalInterval: 4, Evals: []Eval{SampledEval("val", 2, data.Sampler("val", 4, 16))},
		Seed: seed, Checkpoint: filepath.Join(dir, "last.safetensors"),
		Callbacks: []Callback{CallbackFunc(func(m Metrics) { losses = append(losses, m.Loss) })}}, m, &losses
}

func TestDropout(t *testing.T) {
	// Evaluation graphs are unaffected: the same weights give the same
	// logits and evaluation losses with dropout 0.3 as with none.
	on, mOn, _ := dropoutRun(t, 0.3, 1, t.TempDir())
	off, mOff, _ := dropoutRun(t, 0, 1, t.TempDir())
	ids := [][]int32{{1, 2, 3, 4, 5, 6}}
	a, err := mOn.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := mOff.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tensors.MustCopyFlatData[float32](a.Logits), tensors.MustCopyFlatData[float32](b.Logits)) {
		t.Error("a forward pass with dropout 0.3 in the config differs from one without")
	}
	batch := func() (x, y *tensors.Tensor) { // one copy per backend
		return tensors.FromFlatDataAndDimensions([]int32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 4),
			tensors.FromFlatDataAndDimensions([]int32{2, 3, 4, 5, 6, 7, 8, 9}, 2, 4)
	}
	lOn, err := on.Trainer.Eval(batch())
	if err != nil {
		t.Fatal(err)
	}
	lOff, err := off.Trainer.Eval(batch())
	if err != nil {
		t.Fatal(err)
	}
	if lOn != lOff {
		t.Errorf("evaluation loss with dropout 0.3 = %v, without %v: evaluation must not drop", lOn, lOff)
	}

	// Training steps drop: the first step's loss differs from no dropout's;
	// the same seed gives the same losses, another seed others.
	run := func(rate float64, seed uint64) []float64 {
		l, _, losses := dropoutRun(t, rate, seed, t.TempDir())
		if _, err := l.Run(false); err != nil {
			t.Fatal(err)
		}
		return *losses
	}
	with, again, other, without := run(0.3, 1), run(0.3, 1), run(0.3, 2), run(0, 1)
	if !slices.Equal(with, again) {
		t.Errorf("dropout 0.3, seed 1, twice: losses %v then %v", with, again)
	}
	if slices.Equal(with, other) {
		t.Errorf("dropout 0.3: seeds 1 and 2 gave the same losses %v", with)
	}
	if with[0] != without[0] {
		t.Errorf("the first evaluation (before any step) differs with dropout: %v against %v", with[0], without[0])
	}
	if with[1] == without[1] {
		t.Errorf("the first training step's loss is %v with dropout 0.3 and without: dropout did nothing", with[1])
	}

	// A run stopped and resumed draws the same masks as one that was not.
	dir := t.TempDir()
	first, _, before := dropoutRun(t, 0.3, 1, dir)
	first.StopAfter = 3
	if _, err := first.Run(false); err != nil {
		t.Fatal(err)
	}
	second, _, after := dropoutRun(t, 0.3, 1, dir)
	if _, err := second.Run(true); err != nil {
		t.Fatal(err)
	}
	if resumed := append(append([]float64{}, (*before)...), (*after)...); !slices.Equal(resumed, with) {
		t.Errorf("dropout 0.3 stopped after 3 steps and resumed: losses %v, uninterrupted %v", resumed, with)
	}
}

// LLaMA's attention_dropout acts in training steps only.
func TestLlamaAttentionDropout(t *testing.T) {
	backend := golden.Backend(t)
	losses := func(rate float64) (train, eval float64) {
		cfg := &llama.Config{VocabSize: 32, HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2,
			NumKeyValueHeads: 2, MaxPositionEmbeddings: 16, AttentionDropout: rate}
		m, err := llama.NewRandom(cfg, 3, backend)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(m.Params(), backend, CausalLMLoss(m.Decoder), DefaultAdamW(), 1)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		ids, next := make([]int32, 2*8), make([]int32, 2*8)
		for i := range ids {
			ids[i], next[i] = int32(rng.IntN(32)), int32(rng.IntN(32))
		}
		x, y := tensors.FromFlatDataAndDimensions(ids, 2, 8), tensors.FromFlatDataAndDimensions(next, 2, 8)
		if eval, err = tr.Eval(x, y); err != nil {
			t.Fatal(err)
		}
		if train, _, err = tr.Step(1e-3, x, y); err != nil {
			t.Fatal(err)
		}
		return train, eval
	}
	trainOn, evalOn := losses(0.5)
	trainOff, evalOff := losses(0)
	if evalOn != evalOff {
		t.Errorf("evaluation loss %v with attention_dropout 0.5, %v without", evalOn, evalOff)
	}
	if trainOn == trainOff {
		t.Errorf("training loss %v with attention_dropout 0.5 and without: dropout did nothing", trainOn)
	}
}

func TestBadDropoutRates(t *testing.T) {
	backend := golden.Backend(t)
	_, err := gpt2.NewRandom(&gpt2.Config{VocabSize: 8, NPositions: 4, NEmbd: 4, NLayer: 1, NHead: 1, ResidPdrop: -0.1}, 1, backend)
	if err == nil || !strings.Contains(err.Error(), `"resid_pdrop" is a dropout rate`) {
		t.Errorf("resid_pdrop -0.1: got error %v", err)
	}
	_, err = llama.NewRandom(&llama.Config{VocabSize: 8, HiddenSize: 4, IntermediateSize: 8, NumHiddenLayers: 1, NumAttentionHeads: 1,
		NumKeyValueHeads: 1, MaxPositionEmbeddings: 4, AttentionDropout: 1}, 1, backend)
	if err == nil || !strings.Contains(err.Error(), `"attention_dropout" is a dropout rate`) {
		t.Errorf("attention_dropout 1: got error %v", err)
	}
}

// BERT's hidden and attention-probability dropout act in masked-LM
// training steps only.
func TestBertDropout(t *testing.T) {
	backend := golden.Backend(t)
	losses := func(rate float64) (train, eval float64) {
		cfg := &bert.Config{VocabSize: 32, HiddenSize: 16, NumHiddenLayers: 1, NumAttentionHeads: 2, IntermediateSize: 32,
			MaxPositionEmbeddings: 16, TypeVocabSize: 2, HiddenDropoutProb: rate, AttentionProbsDropoutProb: rate}
		m, err := bert.NewRandom(cfg, bert.MaskedLM, 3, backend)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(m.Params(), backend, MaskedLMLoss(m), DefaultAdamW(), 1)
		if err != nil {
			t.Fatal(err)
		}
		ids := tensors.FromFlatDataAndDimensions([]int32{2, 5, 7, 3, 9, 11, 2, 3, 4, 3, 6, 8}, 2, 6)
		labels := tensors.FromFlatDataAndDimensions([]int32{-100, -100, -100, 4, -100, -100, -100, 10, -100, 12, -100, -100}, 2, 6)
		if eval, err = tr.Eval(ids, labels); err != nil {
			t.Fatal(err)
		}
		if train, _, err = tr.Step(1e-3, ids, labels); err != nil {
			t.Fatal(err)
		}
		return train, eval
	}
	trainOn, evalOn := losses(0.4)
	trainOff, evalOff := losses(0)
	if evalOn != evalOff {
		t.Errorf("evaluation loss %v with dropout 0.4, %v without", evalOn, evalOff)
	}
	if trainOn == trainOff {
		t.Errorf("training loss %v with dropout 0.4 and without: dropout did nothing", trainOn)
	}
}
