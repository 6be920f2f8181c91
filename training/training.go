// Package training trains the weights of any model that yields a loss: an
// Optimizer (AdamW with decoupled weight decay, nanoGPT's rule by default:
// decay on weights of two or more dimensions, none on norms and biases;
// SGD with momentum or Nesterov's; Lion; Adafactor; or the caller's), linear
// warm-up then cosine decay to a minimum learning rate, global-norm gradient
// clipping, evaluation, and a small metrics-callback interface that progress
// bars, the lab's run folders and live notebook charts implement.
//
// The whole step — forward, backward, clipping and the optimizer's update — is one
// compiled graph; the learning rate enters as an input, so the schedule never
// recompiles it. With gradient accumulation, or data parallel across
// processes (Trainer.SetProcesses: an MPI job, see training/mpi), the step
// is two programs, gradients then update, and the gradients are summed
// between them.
//
// Training is in float32 unless Trainer.SetPrecision asks for bfloat16 or
// float16 matrix products (mixed precision, with float32 master weights);
// docs/training.md records what lab/mixed_precision measured on each engine.
package training

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// LossFunc builds a scalar loss from the batch's input nodes, reading the
// model's weights from its Params.
type LossFunc func(g *Graph, batch []*Node) *Node

// Schedule is a learning rate with linear warm-up then cosine decay.
type Schedule struct {
	// LR is the peak rate, reached after WarmupIters steps.
	LR float64
	// MinLR is the rate at DecayIters and after.
	MinLR       float64
	WarmupIters int
	// DecayIters is where the cosine decay ends; 0 keeps LR constant.
	DecayIters int
}

// At returns the learning rate for step (counting from 0), as nanoGPT's get_lr.
func (s Schedule) At(step int) float64 {
	switch {
	case step < s.WarmupIters:
		return s.LR * float64(step+1) / float64(s.WarmupIters+1)
	case s.DecayIters <= 0:
		return s.LR
	case step > s.DecayIters:
		return s.MinLR
	}
	ratio := float64(step-s.WarmupIters) / float64(max(1, s.DecayIters-s.WarmupIters))
	coeff := 0.5 * (1 + math.Cos(math.Pi*ratio))
	return s.MinLR + coeff*(s.LR-s.MinLR)
}

// Metrics are the numbers of one training or evaluation report.
type Metrics struct {
	Step int
	// Split is "train" or "val".
	Split string
	Loss  float64
	// LR, GradNorm and TokensPerSec are set for training steps.
	LR, GradNorm, TokensPerSec float64
}

// Callback receives metrics as training goes; a progress bar, a run folder's
// metrics log and a live chart implement it.
type Callback interface {
	OnMetrics(m Metrics)
}

// CallbackFunc adapts a function to Callback.
type CallbackFunc func(Metrics)

// OnMetrics calls f.
func (f CallbackFunc) OnMetrics(m Metrics) { f(m) }

// Trainer updates a model's Params to minimize Loss.
type Trainer struct {
	Params  *modeling.Params
	Backend compute.Backend
	Loss    LossFunc
	// Opt is the optimizer (AdamW, SGD, Lion, Adafactor, or one of the
	// caller's own).
	Opt Optimizer
	// Clip is the global gradient-norm limit (0: no clipping).
	Clip float64
	// EarlyStopping, when set, is saved with every checkpoint and restored
	// by LoadCheckpoint, so that a resumed run keeps its best loss and its
	// count of evaluations without improvement.
	EarlyStopping *EarlyStopping

	mu        sync.Mutex
	step      int // optimizer steps taken
	trainExec *modeling.Program
	evalExec  *modeling.Program
	accExec   *modeling.Program // StepAccumulated: add one micro-batch's gradients
	applyExec *modeling.Program // StepAccumulated: the update from the mean gradient
	acc       map[string]*model.Variable
	state     map[string][]stateVar // weight name -> the optimizer's state for it
	names     []string              // trainable weights, sorted
	// layout is the Params' sharding the programs above were built for.
	layout *modeling.Sharding
	// precision is the dtype of the matrix products (SetPrecision); scaler
	// the loss scale of float16 training.
	precision dtypes.DType
	scaler    *lossScaler
	// checkpointing is gradient checkpointing (SetGradientCheckpointing).
	checkpointing bool
	// procs are the processes that share each step (SetProcesses); nil:
	// this one alone.
	procs Processes
}

// stateVar is one state tensor of the optimizer for one weight.
type stateVar struct {
	kind string // StateSpec.Name
	v    *model.Variable
}

// optimizerPrefix is where the optimizer's state lives in the Store.
const optimizerPrefix = "optimizer"

// NewTrainer returns a trainer of every weight in params.
func NewTrainer(params *modeling.Params, backend compute.Backend, loss LossFunc, opt Optimizer, clip float64) (*Trainer, error) {
	if opt == nil {
		return nil, fmt.Errorf("training: no optimizer")
	}
	if v, ok := opt.(validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	if !(clip >= 0) {
		return nil, fmt.Errorf("training: gradient clipping norm must be >= 0 (0: none), got %v", clip)
	}
	t := &Trainer{Params: params, Backend: backend, Loss: loss, Opt: opt, Clip: clip, state: map[string][]stateVar{}}
	// Weights laid out in blocks for decoding on the go backend are
	// trained as the whole matrices they are.
	if err := params.JoinRows(); err != nil {
		return nil, err
	}
	for _, name := range params.Names() {
		if strings.HasPrefix(name, optimizerPrefix+".") {
			continue
		}
		v := params.Variable(name)
		if !v.Trainable {
			continue
		}
		t.names = append(t.names, name)
		shape := v.Shape()
		for _, spec := range opt.State(name, shape.Dimensions) {
			sv, err := params.Store.CreateVariable(modeling.VariablePath(optimizerPrefix+"."+spec.Name+"."+name),
				tensors.FromShape(shapes.Make(shape.DType, spec.Dims...)))
			if err != nil {
				return nil, fmt.Errorf("training: optimizer state %q of %q: %w", spec.Name, name, err)
			}
			sv.SetTrainable(false)
			if slices.Equal(spec.Dims, shape.Dimensions) {
				if err := params.Follow(sv.Path(), name, modeling.PartOptimizerState); err != nil {
					return nil, err
				}
			}
			t.state[name] = append(t.state[name], stateVar{spec.Name, sv})
		}
	}
	if len(t.names) == 0 {
		return nil, fmt.Errorf("training: no trainable weights")
	}
	// Dropout in the step's graph draws from the weights' stream, seed 0
	// until SeedDropout.
	if err := params.SeedDropout(0); err != nil {
		return nil, err
	}
	return t, nil
}

// Shard lays the weights, their gradients and the optimizer state out on a
// mesh (see modeling.Params.Shard): with data parallelism each step's batch
// is split over the mesh's "data" axis and XLA all-reduces the gradients;
// fully sharded, every weight and its moments are split too, and gathered
// where they are used; tensor-parallel, projections are split by their
// roles. The step stays one compiled program. Under ZeRO-1 and ZeRO-2 the
// weights stay whole on every device and the optimizer state is split over
// "data"; the step is then two programs, as gradient accumulation's (see
// StepAccumulated): the first leaves the gradients in buffers on the devices
// (whole, all-reduced, under ZeRO-1; split over "data", reduce-scattered,
// under ZeRO-2), the second updates each device's slice of the state and
// gathers the new weights. s nil gathers everything back onto one device.
// Checkpoints are written whole either way, so a run resumes on any number
// of devices and any strategy.
func (t *Trainer) Shard(s *modeling.Sharding) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Params.Shard(s)
}

// checkLayout drops the compiled programs when the Params were laid out
// anew since they were built, and checks that batch divides over the
// mesh's data axis (a data-parallel step never runs replicated unasked).
func (t *Trainer) checkLayout(batch []*tensors.Tensor) error {
	s := t.Params.Sharding()
	if s != t.layout {
		t.trainExec, t.evalExec, t.accExec, t.applyExec = nil, nil, nil, nil
		t.layout = s
	}
	for i, b := range batch {
		if b.Rank() > 0 && !s.BatchDivides(b.Shape().Dimensions[0]) {
			return fmt.Errorf("training: batch input %d has %d rows, which do not split over the %d devices of the mesh's data axis (%s)",
				i, b.Shape().Dimensions[0], s.DataSize(), s)
		}
	}
	return nil
}

// SeedDropout restarts the random stream the model's dropout draws from in
// training steps (a Loop seeds it with its Seed). Checkpoints save the
// stream, so a resumed run draws the masks the uninterrupted one would.
func (t *Trainer) SeedDropout(seed uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Params.SeedDropout(seed)
}

// Steps returns how many optimizer steps have been taken.
func (t *Trainer) Steps() int { return t.step }

// Step takes one optimizer step on batch at learning rate lr and returns the
// loss (before the update) and the gradient's global norm (before clipping).
func (t *Trainer) Step(lr float64, batch ...*tensors.Tensor) (loss, gradNorm float64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.multiProcess() {
		return t.stepProcesses(lr, [][]*tensors.Tensor{batch})
	}
	if t.zero() {
		return t.stepAccumulated(lr, [][]*tensors.Tensor{batch})
	}
	if err := t.checkLayout(batch); err != nil {
		return 0, 0, err
	}
	if t.trainExec == nil {
		t.trainExec, err = t.Params.NewExec(t.Backend, t.stepGraph)
		if err != nil {
			return 0, 0, err
		}
	}
	args := []any{tensors.FromScalar(float32(lr)), tensors.FromScalar(float32(t.step + 1))}
	for _, b := range batch {
		args = append(args, b)
	}
	out, err := t.trainExec.Call(args...)
	if err != nil {
		return 0, 0, err
	}
	t.step++
	return float64(tensors.MustCopyFlatData[float32](out[0])[0]), float64(tensors.MustCopyFlatData[float32](out[1])[0]), nil
}

// stepGraph is one training step: loss, gradients, clipping, the
// optimizer's update.
func (t *Trainer) stepGraph(in []*Node) []*Node {
	lr, step, batch := in[0], in[1], in[2:]
	g := lr.Graph()
	t.Params.MarkTraining(g) // dropout is active
	g.AttachState(differentiated{}, true)
	t.prepare(g)
	loss, grads := t.gradients(g, batch)
	return []*Node{loss, t.update(g, grads, lr, step)}
}

// gradients builds the loss of batch and its gradients with respect to the
// stored trainable weights.
func (t *Trainer) gradients(g *Graph, batch []*Node) (*Node, []*Node) {
	loss := t.Loss(g, batch)
	params := make([]*Node, len(t.names))
	for i, name := range t.names {
		params[i] = t.Params.Raw(g, name) // the stored weight, not a transformed view of it
	}
	return loss, t.unscaled(g, Gradient(t.scaled(g, loss), params...))
}

// update clips grads by their global norm and applies the optimizer; it
// returns the norm before clipping.
func (t *Trainer) update(g *Graph, grads []*Node, lr, step *Node) *Node {
	sumSq := ScalarZero(g, dtypes.Float32)
	for _, gr := range grads {
		sumSq = Add(sumSq, ReduceAllSum(Square(gr)))
	}
	norm := Sqrt(sumSq)
	scale := ScalarOne(g, dtypes.Float32)
	if t.Clip > 0 {
		// torch.nn.utils.clip_grad_norm_: scale by clip/(norm+1e-6) when that is below 1.
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, t.Clip), AddScalar(norm, 1e-6)))
	}
	var written []*model.Variable // with their values before the update, for guard
	var old []*Node
	for i, name := range t.names {
		vars := t.state[name]
		state := make([]*Node, len(vars))
		for j, sv := range vars {
			state[j] = sv.v.NodeValue(g)
		}
		before := t.Params.Raw(g, name)
		p, newState := t.Opt.Update(Update{Name: name, Weight: before, Grad: Mul(grads[i], scale),
			State: state, LR: lr, Step: step})
		if len(newState) != len(vars) {
			panic(fmt.Sprintf("training: the optimizer returned %d state tensors for %q, its State lists %d", len(newState), name, len(vars)))
		}
		for j, sv := range vars {
			written, old = append(written, sv.v), append(old, state[j])
			sv.v.SetNodeValue(newState[j])
		}
		written, old = append(written, t.Params.Variable(name)), append(old, before)
		t.Params.Variable(name).SetNodeValue(p)
	}
	t.guard(g, sumSq, written, old)
	return norm
}

// StepAccumulated takes one optimizer step on the mean gradient of several
// micro-batches (gradient accumulation, as nanoGPT's
// gradient_accumulation_steps): each micro-batch's gradients are computed and
// summed on the device in turn, so memory holds one micro-batch at a time.
// It returns the mean loss and the global norm of the mean gradient.
func (t *Trainer) StepAccumulated(lr float64, microBatches [][]*tensors.Tensor) (loss, gradNorm float64, err error) {
	if len(microBatches) == 0 {
		return 0, 0, fmt.Errorf("training: no micro-batches")
	}
	if len(microBatches) == 1 {
		return t.Step(lr, microBatches[0]...)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.multiProcess() {
		return t.stepProcesses(lr, microBatches)
	}
	return t.stepAccumulated(lr, microBatches)
}

// zero reports whether the Params are laid out by ZeRO-1 or ZeRO-2, whose
// steps keep the gradients in buffers between two programs.
func (t *Trainer) zero() bool {
	s := t.Params.Sharding()
	return s != nil && (s.Strategy == modeling.ZeRO1 || s.Strategy == modeling.ZeRO2)
}

// stepAccumulated is StepAccumulated with t.mu held.
func (t *Trainer) stepAccumulated(lr float64, microBatches [][]*tensors.Tensor) (loss, gradNorm float64, err error) {
	for _, mb := range microBatches {
		if err := t.checkLayout(mb); err != nil {
			return 0, 0, err
		}
	}
	if err := t.buildAccumulation(); err != nil {
		return 0, 0, err
	}
	total, err := t.accumulate(microBatches)
	if err != nil {
		return 0, 0, err
	}
	norm, err := t.apply(lr, len(microBatches))
	if err != nil {
		return 0, 0, err
	}
	return total / float64(len(microBatches)), norm, nil
}

// buildAccumulation compiles, once per layout, the two programs of a step
// split in halves: the gradient program adds one micro-batch's gradients
// into the accumulators, the update program applies their mean and zeroes
// them. Between the two, gradients may be summed across processes.
func (t *Trainer) buildAccumulation() error {
	if t.accExec != nil {
		return nil
	}
	if err := t.createAccumulators(); err != nil {
		return err
	}
	var err error
	t.accExec, err = t.Params.NewExec(t.Backend, func(in []*Node) []*Node {
		g := in[0].Graph()
		t.Params.MarkTraining(g)
		g.AttachState(differentiated{}, true)
		t.prepare(g)
		l, grads := t.gradients(g, in)
		for i, name := range t.names {
			acc := t.acc[name]
			acc.SetNodeValue(Add(acc.NodeValue(g), grads[i]))
		}
		return []*Node{l}
	})
	if err != nil {
		return err
	}
	t.applyExec, err = t.Params.NewExec(t.Backend, func(in []*Node) []*Node {
		lr, step, n := in[0], in[1], in[2]
		g := lr.Graph()
		t.prepare(g)
		grads := make([]*Node, len(t.names))
		for i, name := range t.names {
			acc := t.acc[name]
			grads[i] = Div(acc.NodeValue(g), n)
			acc.SetNodeValue(ZerosLike(grads[i]))
		}
		return []*Node{t.update(g, grads, lr, step)}
	})
	if err != nil {
		t.accExec = nil
	}
	return err
}

// accumulate runs the gradient program on each micro-batch and returns the
// sum of their losses.
func (t *Trainer) accumulate(microBatches [][]*tensors.Tensor) (float64, error) {
	total := 0.0
	for _, mb := range microBatches {
		args := make([]any, len(mb))
		for i, b := range mb {
			args[i] = b
		}
		out, err := t.accExec.Call(args...)
		if err != nil {
			return 0, err
		}
		total += float64(tensors.MustCopyFlatData[float32](out[0])[0])
	}
	return total, nil
}

// apply runs the update program on the accumulated gradients of count
// micro-batches, counts the step and returns the gradient's global norm.
func (t *Trainer) apply(lr float64, count int) (float64, error) {
	out, err := t.applyExec.Call(tensors.FromScalar(float32(lr)), tensors.FromScalar(float32(t.step+1)),
		tensors.FromScalar(float32(count)))
	if err != nil {
		return 0, err
	}
	t.step++
	return float64(tensors.MustCopyFlatData[float32](out[0])[0]), nil
}

// createAccumulators makes the gradient-sum variables used by
// StepAccumulated, once: a later layout moves them with the weights.
func (t *Trainer) createAccumulators() error {
	if t.acc != nil {
		return nil
	}
	t.acc = map[string]*model.Variable{}
	for _, name := range t.names {
		v, err := t.Params.Store.CreateVariable(modeling.VariablePath(optimizerPrefix+".acc."+name), tensors.FromShape(t.Params.Variable(name).Shape()))
		if err != nil {
			return err
		}
		v.SetTrainable(false)
		if err := t.Params.Follow(v.Path(), name, modeling.PartGradient); err != nil {
			return err
		}
		t.acc[name] = v
	}
	return nil
}

// Eval returns the loss on batch without changing any weight.
func (t *Trainer) Eval(batch ...*tensors.Tensor) (float64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.multiProcess() {
		return t.evalProcesses(batch)
	}
	return t.evalLocal(batch)
}

// evalLocal is Eval in this process alone. t.mu is held.
func (t *Trainer) evalLocal(batch []*tensors.Tensor) (float64, error) {
	if err := t.checkLayout(batch); err != nil {
		return 0, err
	}
	if t.evalExec == nil {
		var err error
		t.evalExec, err = t.Params.NewExec(t.Backend, func(in []*Node) []*Node {
			t.prepare(in[0].Graph())
			return []*Node{t.Loss(in[0].Graph(), in)}
		})
		if err != nil {
			return 0, err
		}
	}
	args := make([]any, len(batch))
	for i, b := range batch {
		args[i] = b
	}
	out, err := t.evalExec.Call(args...)
	if err != nil {
		return 0, err
	}
	return float64(tensors.MustCopyFlatData[float32](out[0])[0]), nil
}

// CrossEntropy is the mean next-token cross-entropy of logits [B, T, V]
// against integer targets [B, T].
func CrossEntropy(logits, targets *Node) *Node {
	v := logits.Shape().Dimensions[2]
	logp := LogSoftmax(logits, -1)
	picked := ReduceSum(Mul(logp, OneHot(targets, v, dtypes.Float32)), -1)
	return Neg(ReduceAllMean(picked))
}

// PerMetric adapts a callback that takes one named value at a time — the
// shape of viz.LiveLoss.OnMetrics, so that viz needs nothing from this
// package — to Callback: each report becomes calls for "loss" and, on
// training steps, "lr", "grad_norm" and "tokens_per_sec". The split is
// "train" or "val".
func PerMetric(fn func(step int, split, name string, value float64)) Callback {
	return CallbackFunc(func(m Metrics) {
		fn(m.Step, m.Split, "loss", m.Loss)
		if m.Split == "train" {
			fn(m.Step, m.Split, "lr", m.LR)
			fn(m.Step, m.Split, "grad_norm", m.GradNorm)
			fn(m.Step, m.Split, "tokens_per_sec", m.TokensPerSec)
		}
	})
}

// EarlyStopping tracks the best validation loss: Observe says whether a new
// loss is the best so far (save the best checkpoint then) and whether
// Patience evaluations in a row have brought no improvement (stop then).
//
// Its state (the best loss and the evaluations since it) belongs to the run:
// set Trainer.EarlyStopping and every checkpoint carries it, so that a
// resumed run stops where the uninterrupted one would have. MarshalText and
// UnmarshalText give the same state as text for other stores.
type EarlyStopping struct {
	// Patience is how many evaluations without improvement end training
	// (0: never stop early).
	Patience int
	// MinDelta is the least decrease that counts as an improvement.
	MinDelta float64
	best     float64
	seen     bool
	bad      int
}

// Observe records a validation loss.
func (e *EarlyStopping) Observe(loss float64) (improved, stop bool) {
	if !e.seen || loss < e.best-e.MinDelta {
		e.best, e.seen, e.bad = loss, true, 0
		return true, false
	}
	e.bad++
	return false, e.Patience > 0 && e.bad >= e.Patience
}

// Best returns the best loss observed (NaN before any).
func (e *EarlyStopping) Best() float64 {
	if !e.seen {
		return math.NaN()
	}
	return e.best
}

// WithoutImprovement returns how many evaluations in a row have not
// improved on the best loss.
func (e *EarlyStopping) WithoutImprovement() int { return e.bad }

// MarshalText returns the state — not the settings Patience and MinDelta,
// which come from the run's configuration — as "best=LOSS bad=N", or "none"
// before the first observation. The loss is written with as many digits as
// it takes to read back the same float64.
func (e *EarlyStopping) MarshalText() ([]byte, error) {
	if !e.seen {
		return []byte("none"), nil
	}
	return fmt.Appendf(nil, "best=%s bad=%d", strconv.FormatFloat(e.best, 'g', -1, 64), e.bad), nil
}

// UnmarshalText restores a state written by MarshalText, keeping Patience
// and MinDelta.
func (e *EarlyStopping) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "none" {
		e.best, e.seen, e.bad = 0, false, 0
		return nil
	}
	var best, bad string
	for _, field := range strings.Fields(s) {
		key, value, _ := strings.Cut(field, "=")
		switch key {
		case "best":
			best = value
		case "bad":
			bad = value
		default:
			return fmt.Errorf("early stopping state %q: unknown field %q", s, key)
		}
	}
	b, err := strconv.ParseFloat(best, 64)
	if err != nil {
		return fmt.Errorf("early stopping state %q: best: %w", s, err)
	}
	n, err := strconv.Atoi(bad)
	if err != nil || n < 0 {
		return fmt.Errorf("early stopping state %q: bad: want a count, got %q", s, bad)
	}
	e.best, e.seen, e.bad = b, true, n
	return nil
}
