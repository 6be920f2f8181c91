package training

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// regression is a loop fitting w to noisy targets drawn from the loop's
// streams: its losses depend on every random draw, so a resume that
// drew other batches would show.
func regression(t *testing.T, dir string) (*Loop, *[]Metrics) {
	t.Helper()
	backend := golden.Backend(t)
	params := modeling.NewParams()
	params.Set("w", tensors.FromFlatDataAndDimensions([]float32{0.5, -1, 2, 0.25}, 4))
	loss := func(g *Graph, batch []*Node) *Node {
		return ReduceAllMean(Square(Sub(Mul(params.Node(g, "w"), batch[0]), batch[1])))
	}
	tr, err := NewTrainer(params, backend, loss, DefaultAdamW(), 1)
	if err != nil {
		t.Fatal(err)
	}
	draw := func(rng *rand.Rand) ([]*tensors.Tensor, error) {
		x, y := make([]float32, 4), make([]float32, 4)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			y[i] = 3*x[i] + float32(0.1*rng.NormFloat64())
		}
		return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, 4), tensors.FromFlatDataAndDimensions(y, 4)}, nil
	}
	var seen []Metrics
	return &Loop{
		Trainer: tr, Iters: 12, Schedule: Schedule{LR: 0.1, MinLR: 0.01, WarmupIters: 2, DecayIters: 12},
		Batch: draw, Accumulate: 2, EvalInterval: 4, Evals: []Eval{SampledEval("val", 3, draw)}, Seed: 7,
		Checkpoint: filepath.Join(dir, "last.safetensors"), Best: filepath.Join(dir, "best.safetensors"),
		Callbacks: []Callback{CallbackFunc(func(m Metrics) { seen = append(seen, m) })},
	}, &seen
}

func TestLoopResumesExactly(t *testing.T) {
	straight, all := regression(t, t.TempDir())
	res, err := straight.Run(false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 12 || res.Stopped || res.EarlyStopped {
		t.Fatalf("uninterrupted run: %+v", res)
	}
	var evals []int
	for _, m := range *all {
		if m.Split == "val" {
			evals = append(evals, m.Step)
		}
	}
	if want := []int{0, 4, 8, 12}; !slices.Equal(evals, want) {
		t.Errorf("evaluated after steps %v, want %v", evals, want)
	}

	dir := t.TempDir()
	first, before := regression(t, dir)
	first.StopAfter = 6
	if res, err := first.Run(false); err != nil || !res.Stopped || res.Steps != 6 {
		t.Fatalf("stopping after 6: %+v, %v", res, err)
	}
	second, after := regression(t, dir)
	res, err = second.Run(true)
	if err != nil {
		t.Fatal(err)
	}
	joined := append(append([]Metrics{}, (*before)...), (*after)...)
	if len(joined) != len(*all) {
		t.Fatalf("stopped and resumed: %d reports, uninterrupted %d", len(joined), len(*all))
	}
	for i := range joined {
		a, b := joined[i], (*all)[i]
		if a.Step != b.Step || a.Split != b.Split || a.Loss != b.Loss {
			t.Errorf("report %d: resumed %s step %d loss %v, uninterrupted %s step %d loss %v", i, a.Split, a.Step, a.Loss, b.Split, b.Step, b.Loss)
		}
	}
	if res.Steps != 12 {
		t.Errorf("resumed run ended at step %d, want 12", res.Steps)
	}
}

func TestBadLoopSettings(t *testing.T) {
	for _, tc := range []struct {
		edit func(l *Loop)
		want string
	}{
		{func(l *Loop) { l.Accumulate = -1 }, "gradient accumulation -1 < 0"},
		{func(l *Loop) { l.Iters = -5 }, "iterations -5 < 0"},
		{func(l *Loop) { l.Batch = nil }, "without a Batch function"},
		{func(l *Loop) { l.Patience, l.Evals = 2, nil }, `patience needs an evaluation named "val"`},
		{func(l *Loop) { l.Checkpoint = "" }, "resume without a checkpoint file"},
	} {
		l, _ := regression(t, t.TempDir())
		tc.edit(l)
		_, err := l.Run(tc.want == "resume without a checkpoint file")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got error %v, want one containing %q", err, tc.want)
		}
	}
}

// TestLoopResumingAnEndedRun resumes runs whose checkpoint is their end —
// the last iteration, and an early stop — and checks that nothing is
// trained or measured: Ended is set, Losses is empty, no metric reported.
func TestLoopResumingAnEndedRun(t *testing.T) {
	for _, early := range []bool{false, true} {
		dir := t.TempDir()
		first, _ := regression(t, dir)
		if early {
			// No learning: the loss never improves, and patience 1 ends the
			// run at the second evaluation.
			first.Schedule, first.Patience = Schedule{}, 1
		}
		done, err := first.Run(false)
		if err != nil || done.EarlyStopped != early {
			t.Fatalf("early %v: first run %+v, %v", early, done, err)
		}
		again, seen := regression(t, dir)
		again.Schedule, again.Patience = first.Schedule, first.Patience
		res, err := again.Run(true)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Ended || res.EarlyStopped != early || res.Steps != done.Steps || len(res.Losses) != 0 || len(*seen) != 0 {
			t.Errorf("early %v: resuming a run that ended at step %d: %+v, %d metrics reported; want Ended, nothing measured",
				early, done.Steps, res, len(*seen))
		}
	}
}
