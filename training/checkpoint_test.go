package training

import (
	"encoding/base64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gpt2"
)

// newRun builds a tiny GPT-2 trainer over a character dataset.
func newRun(t *testing.T) (*Trainer, *Dataset) {
	t.Helper()
	backend := golden.Backend(t)
	text := strings.Repeat("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. ", 40)
	v := NewCharVocab(text)
	ids, _ := v.Encode(text)
	m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: v.Size(), NPositions: 16, NEmbd: 16, NLayer: 1, NHead: 2}, 5, backend)
	if err != nil {
		t.Fatal(err)
	}
	loss := func(g *Graph, b []*Node) *Node {
		dims := b[0].Shape().Dimensions
		logits, _, _ := m.ForwardGraph(b[0], Iota(g, shapes.Make(dtypes.Int32, dims...), 1), nil)
		return CrossEntropy(logits, b[1])
	}
	tr, err := NewTrainer(m.Params(), backend, loss, AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return tr, SplitTokens(ids)
}

func steps(t *testing.T, tr *Trainer, d *Dataset, pcg *rand.PCG, n int) []float64 {
	t.Helper()
	rng := rand.New(pcg)
	sched := Schedule{LR: 1e-2, MinLR: 1e-3, WarmupIters: 2, DecayIters: 10}
	var losses []float64
	for range n {
		x, y, err := d.Batch(rng, "train", 4, 16)
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := tr.Step(sched.At(tr.Steps()), x, y)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	return losses
}

// TestResumeIsExact trains 10 steps straight, and 5 steps, a checkpoint, a
// fresh model loading it, then 5 more: the losses must be identical.
func TestResumeIsExact(t *testing.T) {
	tr, d := newRun(t)
	straight := steps(t, tr, d, rand.NewPCG(1, 2), 10)

	tr1, d1 := newRun(t)
	pcg := rand.NewPCG(1, 2)
	first := steps(t, tr1, d1, pcg, 5)
	state, _ := pcg.MarshalBinary()
	path := filepath.Join(t.TempDir(), "checkpoints", "ckpt.safetensors")
	if err := tr1.SaveCheckpoint(path, map[string]string{"rng": base64.StdEncoding.EncodeToString(state)}); err != nil {
		t.Fatal(err)
	}

	tr2, d2 := newRun(t) // fresh weights, fresh optimizer
	extra, err := tr2.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(extra["rng"])
	pcg2 := &rand.PCG{}
	if err := pcg2.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	if tr2.Steps() != 5 {
		t.Fatalf("resumed at step %d, want 5", tr2.Steps())
	}
	resumed := append(first, steps(t, tr2, d2, pcg2, 5)...)
	for i := range straight {
		if straight[i] != resumed[i] {
			t.Fatalf("step %d: loss %.9f uninterrupted, %.9f resumed\nstraight %v\nresumed  %v", i, straight[i], resumed[i], straight, resumed)
		}
	}
	if straight[9] >= straight[0] {
		t.Errorf("loss did not fall: %v", straight)
	}
	// No temporary files are left beside the checkpoint.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("checkpoint folder holds %d entries, want 1", len(entries))
	}
}

func TestLoadCheckpointRejectsOtherFiles(t *testing.T) {
	tr, _ := newRun(t)
	if _, err := tr.LoadCheckpoint("../models/testdata/golden/gpt2/model/model.safetensors"); err == nil || !strings.Contains(err.Error(), "not a training checkpoint") {
		t.Fatalf("loading a model file as a checkpoint: err = %v", err)
	}
}
