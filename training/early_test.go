package training

import (
	"encoding/base64"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// patienceRun trains with a constant learning rate, evaluates a fixed
// validation batch every 2 steps and observes it with tr.EarlyStopping.
// It returns the step at which early stopping ends training (0: it did not
// within 60 steps). With pause > 0 it instead returns after the evaluation
// at step pause, having saved a checkpoint (weights, optimizer, early
// stopping and the batch RNG) to ckpt.
func patienceRun(t *testing.T, tr *Trainer, d *Dataset, pcg *rand.PCG, pause int, ckpt string, val [2][]int32, losses *[]float64) int {
	t.Helper()
	rng := rand.New(pcg)
	for tr.Steps() < 60 {
		x, y, err := d.Batch(rng, "train", 4, 16)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tr.Step(3e-2, x, y); err != nil {
			t.Fatal(err)
		}
		if tr.Steps()%2 != 0 {
			continue
		}
		// Fresh tensors for each trainer: each has its own backend.
		l, err := tr.Eval(tensors.FromFlatDataAndDimensions(val[0], 8, 16), tensors.FromFlatDataAndDimensions(val[1], 8, 16))
		if err != nil {
			t.Fatal(err)
		}
		*losses = append(*losses, l)
		if _, stop := tr.EarlyStopping.Observe(l); stop {
			return tr.Steps()
		}
		if tr.Steps() == pause {
			state, _ := pcg.MarshalBinary()
			if err := tr.SaveCheckpoint(ckpt, map[string]string{"rng": base64.StdEncoding.EncodeToString(state)}); err != nil {
				t.Fatal(err)
			}
			return 0
		}
	}
	return 0
}

// TestEarlyStoppingSurvivesResume stops a run with patience part-way —
// after evaluations without improvement have been counted — resumes it from
// its checkpoint in a fresh trainer, and checks that it stops at the same
// step as the uninterrupted run; a resumed run that forgot the count would
// stop later.
func TestEarlyStoppingSurvivesResume(t *testing.T) {
	const patience, minDelta = 3, 0.02
	tr, d := newRun(t)
	vx, vy, _ := d.Batch(rand.New(rand.NewPCG(7, 7)), "val", 8, 16)
	val := [2][]int32{tensors.MustCopyFlatData[int32](vx), tensors.MustCopyFlatData[int32](vy)}
	tr.EarlyStopping = &EarlyStopping{Patience: patience, MinDelta: minDelta}
	var straight []float64
	want := patienceRun(t, tr, d, rand.NewPCG(1, 2), 0, "", val, &straight)
	t.Logf("uninterrupted: validation losses %.4f, stopped at step %d", straight, want)
	if want == 0 {
		t.Fatalf("the uninterrupted run never stopped early: validation losses %.4f", straight)
	}
	// Pause at the last evaluation before the stop that has already counted
	// one without improvement.
	pause := 0
	replay := EarlyStopping{Patience: patience, MinDelta: minDelta}
	for i, l := range straight[:len(straight)-1] {
		replay.Observe(l)
		if replay.WithoutImprovement() > 0 {
			pause = 2 * (i + 1)
		}
	}
	if pause == 0 {
		t.Fatalf("no evaluation before the stop went without improvement: %.4f", straight)
	}

	ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
	first, _ := newRun(t)
	first.EarlyStopping = &EarlyStopping{Patience: patience, MinDelta: minDelta}
	var losses []float64
	pcg := rand.NewPCG(1, 2)
	if got := patienceRun(t, first, d, pcg, pause, ckpt, val, &losses); got != 0 {
		t.Fatalf("the first half stopped at %d, before its pause at %d", got, pause)
	}
	counted := first.EarlyStopping.WithoutImprovement()

	resume := func(restore bool) int {
		tr, _ := newRun(t)
		early := &EarlyStopping{Patience: patience, MinDelta: minDelta}
		if restore {
			tr.EarlyStopping = early
		}
		extra, err := tr.LoadCheckpoint(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		tr.EarlyStopping = early
		if restore && (early.WithoutImprovement() != counted || early.Best() != first.EarlyStopping.Best()) {
			t.Fatalf("restored early stopping: best %v, %d without improvement; saved best %v, %d",
				early.Best(), early.WithoutImprovement(), first.EarlyStopping.Best(), counted)
		}
		raw, _ := base64.StdEncoding.DecodeString(extra["rng"])
		pcg := &rand.PCG{}
		if err := pcg.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		var rest []float64
		return patienceRun(t, tr, d, pcg, 0, "", val, &rest)
	}
	if got := resume(true); got != want {
		t.Fatalf("paused at step %d (%d evaluations without improvement) and resumed: stopped at %d, the uninterrupted run at %d",
			pause, counted, got, want)
	}
	if got := resume(false); got == want {
		t.Errorf("a resumed run that forgot its early-stopping state also stops at %d: the test does not exercise the restored state", got)
	}
}

func TestEarlyStoppingText(t *testing.T) {
	e := EarlyStopping{Patience: 4}
	if text, _ := e.MarshalText(); string(text) != "none" {
		t.Errorf("fresh state %q, want none", text)
	}
	e.Observe(1.0 / 3)
	e.Observe(0.5)
	text, _ := e.MarshalText()
	var back EarlyStopping
	if err := back.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if back.Best() != 1.0/3 || back.WithoutImprovement() != 1 {
		t.Errorf("%q read back as best %v, %d without improvement", text, back.Best(), back.WithoutImprovement())
	}
	for _, bad := range []string{"best=x bad=1", "best=1 bad=-2", "best=1 worst=2", ""} {
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("state %q accepted", bad)
		}
	}
}
