package training

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/xla"
)

// PipeOptions are a pipeline's micro-batching and schedule.
type PipeOptions struct {
	// MicroBatches is how many micro-batches each step's batch is cut into
	// (its rows must divide into them, and each micro-batch's rows over
	// the mesh's data axis).
	MicroBatches int
	// Schedule orders their passes (GPipe when zero).
	Schedule PipeSchedule
}

// Pipeline trains a decoder with pipeline parallelism: its blocks split
// into stages along the mesh's "stage" axis (modeling.Decoder.Stages), each
// stage its own compiled programs on its own devices, and each step's batch
// cut into micro-batches that flow through the stages as the schedule
// orders. The residual stream goes forward from stage to stage and its
// gradient backward, each copied from the devices of one stage to the next's
// (PJRT's device-to-device copy). On a mesh that also has a "data" axis,
// every stage is data-parallel over its devices along it (2-D parallelism).
//
// Each stage's backward program recomputes its forward pass from the
// stage's input (GPipe's re-materialization), so a stage keeps one
// residual-stream tensor per micro-batch in flight. Gradients are summed
// over the micro-batches on each stage's devices; then the global gradient
// norm (one scalar from each stage, added on the host), clipping and the
// optimizer's update run per stage. A step equals Trainer.Step on the whole
// batch: the mean of the micro-batches' mean losses is the batch's mean loss.
//
// The loss is next-token cross-entropy (CrossEntropy) of the decoder's
// logits against the targets; mixed precision, gradient checkpointing and
// dropout are not applied.
type Pipeline struct {
	Decoder *modeling.Decoder
	Opt     Optimizer
	Clip    float64
	opts    PipeOptions
	backend compute.Backend
	stages  []*pipeStage
	// shared lists the weights held by several stages (a tied embedding
	// and head), whose gradients are summed across them.
	shared []string
	step   int
	last   PipeTimeline
	mu     sync.Mutex
}

// NewPipeline splits d over mesh, whose axes are "stage" and optionally
// "data", and prepares AdamW's (or opt's) state for each stage's weights,
// copied from d's Params onto the stage's devices. d's Params are left as
// they were; WriteBack copies the trained weights into them.
func NewPipeline(d *modeling.Decoder, mesh *xla.Mesh, opt Optimizer, clip float64, o PipeOptions) (*Pipeline, error) {
	if opt == nil {
		return nil, fmt.Errorf("pipeline: no optimizer")
	}
	if v, ok := opt.(validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	if !(clip >= 0) {
		return nil, fmt.Errorf("pipeline: gradient clipping norm must be >= 0 (0: none), got %v", clip)
	}
	if mesh == nil || !mesh.Has(xla.AxisStage) {
		return nil, fmt.Errorf("pipeline: mesh %v has no %q axis", mesh, xla.AxisStage)
	}
	for _, a := range mesh.Axes() {
		if a.Name != xla.AxisStage && a.Name != xla.AxisData {
			return nil, fmt.Errorf("pipeline: mesh %s: axis %q is not supported (want %q and %q)", mesh, a.Name, xla.AxisStage, xla.AxisData)
		}
	}
	if o.Schedule == 0 {
		o.Schedule = GPipe
	}
	if _, err := o.Schedule.Ops(mesh.Size(xla.AxisStage), o.MicroBatches); err != nil {
		return nil, err
	}
	split, err := d.Stages(mesh.Size(xla.AxisStage))
	if err != nil {
		return nil, err
	}
	p := &Pipeline{Decoder: d, Opt: opt, Clip: clip, opts: o, backend: mesh.Backend}
	data := max(1, mesh.Size(xla.AxisData))
	var dm *distributed.DeviceMesh
	if data > 1 {
		if dm, err = distributed.NewDeviceMesh([]int{data}, []string{xla.AxisData}); err != nil {
			return nil, err
		}
	}
	holders := map[string]int{}
	for _, st := range split {
		ps := &pipeStage{Stage: st, pipe: p, mesh: dm, devices: stageDevices(mesh, st.Index)}
		for _, name := range st.Weights {
			ps.owned = append(ps.owned, holders[name] == 0)
			if holders[name]++; holders[name] == 2 {
				p.shared = append(p.shared, name)
			}
		}
		if err := ps.load(); err != nil {
			return nil, err
		}
		p.stages = append(p.stages, ps)
	}
	return p, nil
}

// stageDevices returns the devices of stage along the mesh's data axis, in
// order.
func stageDevices(mesh *xla.Mesh, stage int) []compute.DeviceNum {
	var out []compute.DeviceNum
	axes := mesh.Axes()
	for dev := range mesh.NumDevices() {
		for i, c := range mesh.Coordinates(dev) {
			if axes[i].Name == xla.AxisStage && c == stage {
				out = append(out, compute.DeviceNum(dev))
			}
		}
	}
	return out
}

// Steps returns how many optimizer steps have been taken.
func (p *Pipeline) Steps() int { return p.step }

// Stages returns the stages the decoder was split into.
func (p *Pipeline) Stages() []modeling.Stage {
	out := make([]modeling.Stage, len(p.stages))
	for i, s := range p.stages {
		out[i] = s.Stage
	}
	return out
}

// SetSchedule changes the schedule of the steps to come; the stages'
// programs do not depend on it.
func (p *Pipeline) SetSchedule(s PipeSchedule) error {
	if _, err := s.Ops(len(p.stages), p.opts.MicroBatches); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.Schedule = s
	return nil
}

// Timeline returns the last step's schedule as it ran.
func (p *Pipeline) Timeline() PipeTimeline {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Step takes one optimizer step on the batch ids and targets [B, T]
// (int32) at learning rate lr, cut into the micro-batches, and returns the
// loss (before the update) and the global gradient norm (before clipping).
func (p *Pipeline) Step(lr float64, ids, targets *tensors.Tensor) (loss, gradNorm float64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	micro, err := p.cut(ids, targets)
	if err != nil {
		return 0, 0, err
	}
	tl := PipeTimeline{Schedule: p.opts.Schedule, Stages: len(p.stages), MicroBatches: len(micro)}
	start := time.Now()
	losses, err := p.run(micro, &tl, start)
	if err != nil {
		return 0, 0, err
	}
	tl.Pipeline = time.Since(start)
	sumSq, err := p.reduceGradients()
	if err != nil {
		return 0, 0, err
	}
	for _, s := range p.stages {
		if err := s.update(lr, p.step+1, len(micro), sumSq); err != nil {
			return 0, 0, err
		}
	}
	tl.Step = time.Since(start)
	p.last = tl
	p.step++
	for _, l := range losses {
		loss += l
	}
	return loss / float64(len(losses)), math.Sqrt(float64(sumSq)), nil
}

// microBatch is one micro-batch's rows of ids and targets.
type microBatch struct{ ids, targets *tensors.Tensor }

// cut splits ids and targets into the micro-batches.
func (p *Pipeline) cut(ids, targets *tensors.Tensor) ([]microBatch, error) {
	if ids.Rank() != 2 || !ids.Shape().Equal(targets.Shape()) || ids.DType() != dtypes.Int32 || targets.DType() != dtypes.Int32 {
		return nil, fmt.Errorf("pipeline: ids %s and targets %s: want two int32 tensors [batch, seq] of one shape", ids.Shape(), targets.Shape())
	}
	b, t, m := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1], p.opts.MicroBatches
	data := len(p.stages[0].devices)
	if b%m != 0 || (b/m)%data != 0 {
		return nil, fmt.Errorf("pipeline: a batch of %d rows does not cut into %d micro-batches whose rows split over the %d devices of each stage's data axis", b, m, data)
	}
	rows := b / m
	flatIDs, flatTargets := tensors.MustCopyFlatData[int32](ids), tensors.MustCopyFlatData[int32](targets)
	// The micro-batches' mean losses are averaged with equal weights, which
	// is the batch's mean only when every position counts.
	if i := slices.IndexFunc(flatTargets, func(y int32) bool { return y < 0 }); i >= 0 {
		return nil, fmt.Errorf("pipeline: target %d of row %d is %d: a pipeline counts every position (no ignored labels)", i%t, i/t, flatTargets[i])
	}
	out := make([]microBatch, m)
	for i := range out {
		lo, hi := i*rows*t, (i+1)*rows*t
		out[i] = microBatch{tensors.FromFlatDataAndDimensions(flatIDs[lo:hi], rows, t), tensors.FromFlatDataAndDimensions(flatTargets[lo:hi], rows, t)}
	}
	return out, nil
}

// pipeMsg is what passes between two stages: the residual stream of
// micro-batch mb (forward) or its gradient (backward).
type pipeMsg struct {
	mb int
	v  any
}

// run runs every stage's operations concurrently, one goroutine per stage,
// records them in tl, and returns the last stage's losses by micro-batch.
func (p *Pipeline) run(micro []microBatch, tl *PipeTimeline, start time.Time) ([]float64, error) {
	ops, err := p.opts.Schedule.Ops(len(p.stages), len(micro))
	if err != nil {
		return nil, err
	}
	n := len(p.stages)
	fwd, bwd := make([]chan pipeMsg, n), make([]chan pipeMsg, n)
	for i := range n {
		fwd[i], bwd[i] = make(chan pipeMsg, len(micro)), make(chan pipeMsg, len(micro))
	}
	losses := make([]float64, len(micro))
	done := make(chan struct{})
	var once sync.Once
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, s := range p.stages {
		wg.Go(func() {
			r := &stageRun{stage: s, micro: micro, losses: losses, done: done, tl: tl, mu: &mu, start: start, saved: map[int]any{}}
			// fwd[i] carries the residual stream from stage i to i+1, bwd[i]
			// its gradient back from i+1 to i.
			if i > 0 {
				r.in, r.gradIn = fwd[i-1], bwd[i-1]
			}
			if i < n-1 {
				r.out, r.gradOut = fwd[i], bwd[i]
			}
			if err := r.ops(ops[i]); err != nil {
				once.Do(func() { firstErr = fmt.Errorf("pipeline: stage %d: %w", i, err); close(done) })
			}
		})
	}
	wg.Wait()
	return losses, firstErr
}

// reduceGradients sums the gradients of the weights several stages hold
// (through the host, once per step) and returns the squared global norm of
// the mean gradient, each weight counted once.
func (p *Pipeline) reduceGradients() (float32, error) {
	for _, name := range p.shared {
		var sum *tensors.Tensor
		for _, s := range p.stages {
			i := s.index(name)
			if i < 0 {
				continue
			}
			t, err := s.host(s.acc[i])
			if err != nil {
				return 0, fmt.Errorf("pipeline: gradient of %q: %w", name, err)
			}
			if sum == nil {
				sum = t
				continue
			}
			add := tensors.MustCopyFlatData[float32](t)
			sum.MutableFlatData(func(flat any) {
				for j, v := range add {
					flat.([]float32)[j] += v
				}
			})
		}
		for _, s := range p.stages {
			if i := s.index(name); i >= 0 {
				c, err := sum.LocalClone()
				if err != nil {
					return 0, err
				}
				v, err := s.put(c, false)
				if err != nil {
					return 0, err
				}
				release(s.acc[i])
				s.acc[i] = v
			}
		}
	}
	var total float32
	for _, s := range p.stages {
		sq, err := s.sumSquares(p.opts.MicroBatches)
		if err != nil {
			return 0, err
		}
		total += sq
	}
	return total, nil
}

// Weights returns the trained weights under their checkpoint names,
// gathered on the host (a weight several stages hold, from the first).
func (p *Pipeline) Weights() (*weights.Set, error) {
	set := weights.NewSet()
	for _, s := range p.stages {
		for i, name := range s.Weights {
			if !s.owned[i] {
				continue
			}
			t, err := s.host(s.weights[i])
			if err != nil {
				return nil, fmt.Errorf("pipeline: weight %q: %w", name, err)
			}
			set.Add(name, t, "")
		}
	}
	return set, nil
}

// WriteBack copies the trained weights into the decoder's Params, so that
// the model generates, evaluates and saves with them.
func (p *Pipeline) WriteBack() error {
	set, err := p.Weights()
	if err != nil {
		return err
	}
	for _, name := range set.Names() {
		t, _ := set.Get(name)
		if err := p.Decoder.Params().Set(name, t); err != nil {
			return err
		}
	}
	return nil
}

// positions returns the positions 0..T-1 of every row of a [B, T] batch.
func positions(g *Graph, b, t int) *Node {
	return Iota(g, shapes.Make(dtypes.Int32, b, t), 1)
}
