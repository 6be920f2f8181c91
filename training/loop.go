package training

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Loop is a whole training run around a Trainer, the loop nanoGPT's
// train.py and Hugging Face's Trainer run: a number of iterations at a
// scheduled learning rate, each step's batch drawn by the caller (split
// into micro-batches whose gradients are accumulated), evaluation after
// 0, EvalInterval, 2·EvalInterval, … steps and at the end, early stopping,
// a checkpoint after every evaluation from which a run resumes exactly,
// and the best weights kept apart.
//
// Every setting that changes the numbers is a field; the caller keeps its
// data and model, and sees the run through Callbacks (a progress bar, a run
// folder, a live chart) and the hooks.
type Loop struct {
	Trainer *Trainer
	// Iters is the number of optimizer steps of the whole run.
	Iters    int
	Schedule Schedule
	// Batch draws one (micro-)batch for a training step from rng.
	Batch func(rng *rand.Rand) ([]*tensors.Tensor, error)
	// BatchAt, used in place of Batch when set, returns micro-batch i of
	// the run (step·Accumulate + j, counting from 0): a data position that
	// needs no state of its own, so that a resumed run reads on where the
	// checkpoint stopped (SFTDataset.Epochs).
	BatchAt func(i int) ([]*tensors.Tensor, error)
	// Accumulate is the number of micro-batches whose gradients make one
	// step (gradient accumulation); 0 or 1: one batch per step.
	Accumulate int
	// EvalInterval is the number of steps between evaluations (0: only
	// before the first step and after the last).
	EvalInterval int
	// Evals are evaluated in order at each evaluation, each the mean loss
	// over its batches; the one named Monitor ("val" when empty) decides
	// early stopping and the best checkpoint.
	Evals   []Eval
	Monitor string
	// TrainRNG and EvalRNG are the streams batches are drawn from (nil:
	// PCG streams 1 and 2 of Seed). Checkpoints save their state, so a
	// resumed run draws the batches the uninterrupted one would have.
	TrainRNG, EvalRNG *rand.PCG
	Seed              uint64
	// Patience stops the run after that many evaluations without a better
	// monitored loss (0: never). The count is saved in checkpoints.
	Patience int
	// Checkpoint is the file written after every evaluation, and at
	// StopAfter ("": none); Best, when set, receives the weights of the
	// best monitored loss.
	Checkpoint, Best string
	// StopAfter ends the run after that many steps with a checkpoint, to
	// be resumed (0: run to the end).
	StopAfter int
	// Callbacks receive every training step's and evaluation's metrics.
	Callbacks []Callback
	// BeforeEval and AfterEval run around each evaluation (a model with
	// dropout turns it off, then on again).
	BeforeEval, AfterEval func() error
	// Log receives the loop's messages (resuming, stopping early); nil:
	// none.
	Log io.Writer
}

// Eval is a set of evaluation batches. Batches returns them, drawn from
// rng when they are sampled (nanoGPT's estimate_loss) or fixed; the loss
// reported is their mean per row.
type Eval struct {
	Split   string
	Batches func(rng *rand.Rand) ([][]*tensors.Tensor, error)
}

// SampledEval is an evaluation over n batches drawn afresh each time from
// the loop's evaluation stream, nanoGPT's estimate_loss.
func SampledEval(split string, n int, draw func(rng *rand.Rand) ([]*tensors.Tensor, error)) Eval {
	return Eval{Split: split, Batches: func(rng *rand.Rand) ([][]*tensors.Tensor, error) {
		batches := make([][]*tensors.Tensor, n)
		for i := range batches {
			b, err := draw(rng)
			if err != nil {
				return nil, err
			}
			batches[i] = b
		}
		return batches, nil
	}}
}

// LoopResult is what a run ended with.
type LoopResult struct {
	// Steps is the number of optimizer steps taken, counting those before
	// a resume.
	Steps int
	// Losses are the last evaluation's losses by split.
	Losses map[string]float64
	// Stopped is set when the run ended at StopAfter, EarlyStopped when
	// Patience ended it.
	Stopped, EarlyStopped bool
	// Ended is set when the resumed checkpoint was already the end of the
	// run (its last iteration, or where early stopping ended it): nothing
	// was trained or measured, and Losses is empty.
	Ended bool
	// Elapsed is the time this call spent.
	Elapsed time.Duration
}

// CausalLMLoss is the mean next-token cross-entropy of a decoder-only model
// on batches [ids, targets] or [ids, targets, positions] ([B, T] int32
// each; positions 0..T-1 when left out): the loss of nanoGPT and of
// Hugging Face's *ForCausalLM with labels shifted. Targets below 0
// (IgnoreLabel) do not count: the mean is over the others, as PyTorch's
// cross_entropy with ignore_index -100. Positions that restart at 0 mark
// packed examples, which do not attend to each other (SFTDataset).
func CausalLMLoss(d *modeling.Decoder) LossFunc {
	return func(g *Graph, batch []*Node) *Node {
		x, y := batch[0], batch[1]
		var positions *Node
		if len(batch) > 2 {
			positions = batch[2]
		} else {
			positions = Iota(g, shapes.Make(dtypes.Int32, x.Shape().Dimensions...), 1)
		}
		logits, _, _ := d.ForwardGraph(x, positions, nil)
		return MaskedCrossEntropy(logits, y)
	}
}

// MaskedCrossEntropy is the mean cross-entropy of logits [..., V] against
// integer labels [...], over the labels that are not negative: Hugging
// Face's ignore_index (-100) marks positions that do not count (padding,
// unmasked tokens). With every label ignored it is 0.
func MaskedCrossEntropy(logits, labels *Node) *Node {
	v := logits.Shape().Dimensions[logits.Rank()-1]
	logp := LogSoftmax(logits, -1)
	picked := ReduceSum(Mul(logp, OneHot(labels, v, dtypes.Float32)), -1) // 0 where a label is negative
	counted := ConvertDType(GreaterOrEqual(labels, ZerosLike(labels)), dtypes.Float32)
	return Neg(Div(ReduceAllSum(Mul(picked, counted)), Max(ReduceAllSum(counted), ScalarOne(logits.Graph(), dtypes.Float32))))
}

// Encoder is a model whose graph maps ids, token types and an attention
// mask ([B, T] int32 each) to its task head's outputs (bert.Model).
type Encoder interface {
	HeadGraph(ids, types, mask *Node) []*Node
}

// MaskedLMLoss is BertForMaskedLM's loss: the cross-entropy of the head's
// logits at the positions whose label is not negative, on batches [ids,
// labels, token types, attention mask] ([B, T] int32 each; the last two
// may be left out: all 0, all 1).
func MaskedLMLoss(m Encoder) LossFunc { return headLoss(m) }

// SequenceClassificationLoss is BertForSequenceClassification's loss with
// several labels: the cross-entropy of the logits [B, labels] against one
// label per row, on batches [ids, labels [B], token types, attention mask]
// (the last two may be left out).
func SequenceClassificationLoss(m Encoder) LossFunc { return headLoss(m) }

// headLoss is the cross-entropy of an encoder head's first output against
// the batch's labels (negative labels ignored); the two heads differ only
// in the labels' shape.
func headLoss(m Encoder) LossFunc {
	return func(g *Graph, batch []*Node) *Node {
		ids, labels := batch[0], batch[1]
		types, mask := encoderInputs(ids, batch[2:])
		return MaskedCrossEntropy(m.HeadGraph(ids, types, mask)[0], labels)
	}
}

// encoderInputs returns the token types and mask of a batch, defaulting
// to zeros and ones.
func encoderInputs(ids *Node, rest []*Node) (types, mask *Node) {
	types, mask = ZerosLike(ids), OnesLike(ids)
	if len(rest) > 0 {
		types = rest[0]
	}
	if len(rest) > 1 {
		mask = rest[1]
	}
	return types, mask
}

// Checkpoint metadata keys of the loop's random streams.
const (
	metaTrainRNG = "train_rng"
	metaEvalRNG  = "eval_rng"
)

func (l *Loop) check() error {
	switch {
	case l.Trainer == nil:
		return fmt.Errorf("training: loop without a trainer")
	case l.Batch == nil && l.BatchAt == nil:
		return fmt.Errorf("training: loop without a Batch function (or BatchAt)")
	case l.Iters < 0:
		return fmt.Errorf("training: loop iterations %d < 0", l.Iters)
	case l.Accumulate < 0:
		return fmt.Errorf("training: gradient accumulation %d < 0", l.Accumulate)
	case l.EvalInterval < 0:
		return fmt.Errorf("training: eval interval %d < 0", l.EvalInterval)
	case l.Patience < 0:
		return fmt.Errorf("training: patience %d < 0", l.Patience)
	case l.StopAfter < 0:
		return fmt.Errorf("training: stop-after %d < 0", l.StopAfter)
	case l.Patience > 0 && !l.monitored():
		return fmt.Errorf("training: patience needs an evaluation named %q", l.monitor())
	}
	return nil
}

func (l *Loop) monitor() string {
	if l.Monitor == "" {
		return "val"
	}
	return l.Monitor
}

func (l *Loop) monitored() bool {
	for _, e := range l.Evals {
		if e.Split == l.monitor() {
			return true
		}
	}
	return false
}

func (l *Loop) logf(format string, args ...any) {
	if l.Log != nil {
		fmt.Fprintf(l.Log, format, args...)
	}
}

func (l *Loop) report(m Metrics) {
	for _, cb := range l.Callbacks {
		cb.OnMetrics(m)
	}
}

// Run trains from the trainer's current state; with resume, it first
// restores the Checkpoint file (weights, optimizer state, step, random
// streams, early-stopping state) and continues from its step.
func (l *Loop) Run(resume bool) (LoopResult, error) {
	res := LoopResult{Losses: map[string]float64{}}
	if err := l.check(); err != nil {
		return res, err
	}
	if l.TrainRNG == nil {
		l.TrainRNG = rand.NewPCG(l.Seed, 1)
	}
	if l.EvalRNG == nil {
		l.EvalRNG = rand.NewPCG(l.Seed, 2)
	}
	rng, evalRNG := rand.New(l.TrainRNG), rand.New(l.EvalRNG)
	tr := l.Trainer
	early := &EarlyStopping{Patience: l.Patience}
	tr.EarlyStopping = early // saved with every checkpoint, restored on resume
	start := tr.Steps()
	if !resume && start == 0 {
		if err := tr.SeedDropout(l.Seed); err != nil {
			return res, err
		}
	}
	if resume {
		var err error
		if start, err = l.restore(); err != nil {
			return res, err
		}
		if start == l.Iters || l.Patience > 0 && early.WithoutImprovement() >= l.Patience {
			res.Steps, res.Ended, res.EarlyStopped = start, true, start < l.Iters
			return res, nil
		}
		l.logf("resuming at iteration %d\n", start)
	}
	checkpoint := func() error {
		if l.Checkpoint == "" {
			return nil
		}
		return tr.SaveCheckpoint(l.Checkpoint, map[string]string{metaTrainRNG: rngState(l.TrainRNG), metaEvalRNG: rngState(l.EvalRNG)})
	}
	began := time.Now()
	micro := max(l.Accumulate, 1)
	it := start
	for ; it <= l.Iters; it++ {
		due := it == l.Iters || (l.EvalInterval > 0 && it%l.EvalInterval == 0) || it == 0
		if due && !(resume && it == start) { // a resumed run's first evaluation was made before its checkpoint
			stop, err := l.evaluate(it, evalRNG, early, res.Losses, checkpoint)
			if err != nil {
				return res, err
			}
			if stop {
				l.logf("no better %s loss in %d evaluations; stopping at %d\n", l.monitor(), l.Patience, it)
				res.EarlyStopped = true
				break
			}
		}
		if it == l.Iters {
			break
		}
		if l.StopAfter > 0 && it == l.StopAfter {
			if err := checkpoint(); err != nil {
				return res, err
			}
			res.Stopped = true
			break
		}
		if err := l.step(it, rng, micro); err != nil {
			return res, err
		}
	}
	res.Steps, res.Elapsed = it, time.Since(began)
	return res, nil
}

// restore loads the checkpoint and the data position a resumed run goes
// on from, and returns its step.
func (l *Loop) restore() (int, error) {
	if l.Checkpoint == "" {
		return 0, fmt.Errorf("training: resume without a checkpoint file")
	}
	extra, err := l.Trainer.LoadCheckpoint(l.Checkpoint)
	if err != nil {
		return 0, err
	}
	for key, pcg := range map[string]*rand.PCG{metaTrainRNG: l.TrainRNG, metaEvalRNG: l.EvalRNG} {
		if err := restoreRNG(extra[key], pcg); err != nil {
			return 0, fmt.Errorf("%s: %s: %w (resume from a run's last checkpoint; the best one keeps no data position)", l.Checkpoint, key, err)
		}
	}
	start := l.Trainer.Steps()
	if start > l.Iters {
		return 0, fmt.Errorf("%s: checkpoint at step %d is past the run's %d iterations", l.Checkpoint, start, l.Iters)
	}
	return start, nil
}

// step trains iteration it: micro batches drawn from rng, their gradients
// accumulated into one update at the schedule's learning rate, and the
// training metrics reported.
func (l *Loop) step(it int, rng *rand.Rand, micro int) error {
	batches := make([][]*tensors.Tensor, micro)
	tokens := 0
	for i := range batches {
		var b []*tensors.Tensor
		var err error
		if l.BatchAt != nil {
			b, err = l.BatchAt(it*micro + i)
		} else {
			b, err = l.Batch(rng)
		}
		if err != nil {
			return err
		}
		batches[i] = b
		if len(b) > 0 {
			tokens += b[0].Shape().Size()
		}
	}
	lr := l.Schedule.At(it)
	t0 := time.Now()
	loss, norm, err := l.Trainer.StepAccumulated(lr, batches)
	if err != nil {
		return err
	}
	l.report(Metrics{Step: it, Split: "train", Loss: loss, LR: lr, GradNorm: norm,
		TokensPerSec: float64(tokens) / time.Since(t0).Seconds()})
	return nil
}

// evaluate runs every Eval after step steps, reports and records the
// losses, observes the monitored one and writes the checkpoints; it says
// whether early stopping ends the run.
func (l *Loop) evaluate(step int, rng *rand.Rand, early *EarlyStopping, losses map[string]float64, checkpoint func() error) (bool, error) {
	if l.BeforeEval != nil {
		if err := l.BeforeEval(); err != nil {
			return false, err
		}
	}
	for _, e := range l.Evals {
		batches, err := e.Batches(rng)
		if err != nil {
			return false, err
		}
		if len(batches) == 0 {
			return false, fmt.Errorf("training: evaluation %q has no batches", e.Split)
		}
		loss, err := l.meanLoss(batches)
		if err != nil {
			return false, err
		}
		losses[e.Split] = loss
		l.report(Metrics{Step: step, Split: e.Split, Loss: losses[e.Split]})
	}
	if l.AfterEval != nil {
		if err := l.AfterEval(); err != nil {
			return false, err
		}
	}
	improved, stop := false, false
	if l.monitored() {
		improved, stop = early.Observe(losses[l.monitor()])
	}
	if err := checkpoint(); err != nil { // after Observe: a resumed run skips this evaluation
		return false, err
	}
	if improved && l.Best != "" {
		if err := l.Trainer.SaveCheckpoint(l.Best, map[string]string{l.monitor() + "_loss": fmt.Sprint(losses[l.monitor()])}); err != nil {
			return false, err
		}
	}
	return stop, nil
}

// meanLoss is the loss over batches, each weighted by its rows (the
// leading dimension of its first input), so that a short last batch counts
// for what it holds.
func (l *Loop) meanLoss(batches [][]*tensors.Tensor) (float64, error) {
	losses, rows := make([]float64, len(batches)), make([]int, len(batches))
	same := true
	for i, b := range batches {
		loss, err := l.Trainer.Eval(b...)
		if err != nil {
			return 0, err
		}
		losses[i], rows[i] = loss, 1
		if len(b) > 0 && b[0].Rank() > 0 {
			rows[i] = b[0].Shape().Dimensions[0]
		}
		same = same && rows[i] == rows[0]
	}
	total, n := 0.0, 0
	for i, loss := range losses {
		if same {
			total += loss // equal batches: the plain mean
			n++
		} else {
			total += loss * float64(rows[i])
			n += rows[i]
		}
	}
	return total / float64(n), nil
}

func rngState(p *rand.PCG) string {
	b, _ := p.MarshalBinary()
	return base64.StdEncoding.EncodeToString(b)
}

func restoreRNG(state string, p *rand.PCG) error {
	if state == "" {
		return fmt.Errorf("no RNG state in the checkpoint's metadata")
	}
	b, err := base64.StdEncoding.DecodeString(state)
	if err != nil {
		return fmt.Errorf("RNG state: %w", err)
	}
	if err := p.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("RNG state: %w", err)
	}
	return nil
}
