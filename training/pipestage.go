package training

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// pipeStage is one stage of a Pipeline: its weights, optimizer state and
// gradient sums on its devices, and its compiled programs. On one device a
// value is a *tensors.Tensor on that device; on several (a data axis) a
// *dtensor.Tensor, replicated or split by batch rows over them.
type pipeStage struct {
	modeling.Stage
	pipe    *Pipeline
	devices []compute.DeviceNum
	mesh    *distributed.DeviceMesh // nil on one device
	// owned[i] is false for a weight an earlier stage also holds: it is
	// counted once in the gradient norm and in Weights.
	owned   []bool
	weights []any
	state   [][]any // per weight, the optimizer's state tensors
	acc     []any   // per weight, the sum of the micro-batches' gradients

	fwd, bwd, norm, apply *Exec
}

// load copies the stage's weights from the decoder's Params onto its
// devices, and makes zero optimizer state and gradient sums.
func (s *pipeStage) load() error {
	params := s.pipe.Decoder.Params()
	for _, name := range s.Weights {
		v := params.Variable(name)
		if v == nil {
			return fmt.Errorf("pipeline: stage %d: weight %q is not loaded", s.Index, name)
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("pipeline: weight %q: %w", name, err)
		}
		if t, err = t.LocalClone(); err != nil {
			return fmt.Errorf("pipeline: weight %q: %w", name, err)
		}
		w, err := s.put(t, false)
		if err != nil {
			return fmt.Errorf("pipeline: weight %q: %w", name, err)
		}
		a, err := s.put(tensors.FromShape(t.Shape()), false)
		if err != nil {
			return err
		}
		var state []any
		for _, spec := range s.pipe.Opt.State(name, t.Shape().Dimensions) {
			st, err := s.put(tensors.FromShape(shapes.Make(t.DType(), spec.Dims...)), false)
			if err != nil {
				return err
			}
			state = append(state, st)
		}
		s.weights, s.acc, s.state = append(s.weights, w), append(s.acc, a), append(s.state, state)
	}
	return nil
}

// index returns the position of weight name among the stage's, -1 when
// the stage does not hold it.
func (s *pipeStage) index(name string) int {
	i, ok := slices.BinarySearch(s.Weights, name)
	if !ok {
		return -1
	}
	return i
}

// put places t on the stage's devices: whole on its one device, or over
// its data axis, split by rows when batch is set, else replicated.
func (s *pipeStage) put(t *tensors.Tensor, batch bool) (any, error) {
	b := s.pipe.backend
	if s.mesh == nil {
		return t, t.MaterializeOnDevice(b, b.HasSharedBuffers(), s.devices[0])
	}
	dt, err := dtensor.ShardTensor(s.spec(batch), t)
	if err != nil {
		return nil, err
	}
	for i, shard := range dt.Shards() {
		if err := shard.MaterializeOnDevice(b, b.HasSharedBuffers(), s.devices[i]); err != nil {
			return nil, err
		}
		shard.FinalizeLocal()
	}
	return dt, nil
}

// spec is the layout of a value on the stage's data axis.
func (s *pipeStage) spec(batch bool) *distributed.ShardingSpec {
	if !batch {
		return distributed.NewReplicatedShardingSpec(s.mesh)
	}
	return &distributed.ShardingSpec{Mesh: s.mesh, Axes: []distributed.AxisSpec{{"data"}}}
}

// move copies v, a value another stage's program returned on its devices,
// onto this stage's devices (PJRT's device-to-device copy) and returns its
// bytes.
func (s *pipeStage) move(v any) (int64, error) {
	b := s.pipe.backend
	if t, ok := v.(*tensors.Tensor); ok {
		return int64(t.Shape().ByteSize()), t.MaterializeOnDevice(b, false, s.devices[0])
	}
	dt := v.(*dtensor.Tensor)
	var n int64
	for i, shard := range dt.Shards() {
		if err := shard.MaterializeOnDevice(b, false, s.devices[i]); err != nil {
			return 0, err
		}
		n += int64(shard.Shape().ByteSize())
	}
	return n, nil
}

// host returns v gathered into a tensor on the host.
func (s *pipeStage) host(v any) (*tensors.Tensor, error) {
	if t, ok := v.(*tensors.Tensor); ok {
		return t.LocalClone()
	}
	dt := v.(*dtensor.Tensor)
	if dt.ShardingSpec().IsReplicated() {
		return dt.Shards()[0].LocalClone()
	}
	return dt.Merge()
}

// release frees v's buffers.
func release(v any) {
	switch v := v.(type) {
	case *tensors.Tensor:
		_ = v.FinalizeAll()
	case *dtensor.Tensor:
		_ = v.FinalizeAll()
	}
}

// program compiles fn for the stage's devices; in and out say which of its
// inputs and outputs are split by batch rows over the data axis.
func (s *pipeStage) program(name string, in, out []bool, fn func([]*Node) []*Node) (*Exec, error) {
	e, err := NewExec(s.pipe.backend, fn)
	if err != nil {
		return nil, err
	}
	e.WithName(fmt.Sprintf("pipeline-stage%d-%s", s.Index, name))
	if s.mesh == nil {
		return e, nil
	}
	specs := func(batch []bool) []*distributed.ShardingSpec {
		out := make([]*distributed.ShardingSpec, len(batch))
		for i, b := range batch {
			out[i] = s.spec(b)
		}
		return out
	}
	e.AutoSharding(s.mesh).WithDeviceAssignment(s.devices).WithInputShardingSpecs(specs(in)...).WithOutputShardingSpecs(specs(out)...)
	return e, nil
}

// call runs e on the stage's devices.
func (s *pipeStage) call(e *Exec, args ...any) (res []any, err error) {
	defer func() {
		if r := recover(); r != nil { // GoMLX panics on some misuses
			res, err = nil, fmt.Errorf("%s: %v", e.Name(), r)
		}
	}()
	if s.mesh == nil {
		outs, _, err := e.CallWithGraphOnDevice(s.devices[0], args...)
		if err != nil {
			return nil, err
		}
		res = make([]any, len(outs))
		for i, o := range outs {
			res[i] = o
		}
		return res, nil
	}
	outs, err := e.DistributedCall(args...)
	if err != nil {
		return nil, err
	}
	res = make([]any, len(outs))
	for i, o := range outs {
		res[i] = o
	}
	return res, nil
}

// flags returns n copies of b, then more.
func flags(n int, b bool, more ...bool) []bool {
	return append(slices.Repeat([]bool{b}, n), more...)
}

// forwardGraph builds the stage on its weights w and its input x (the ids
// on the first stage, else the residual stream), returning the stage's
// output: the residual stream after its last block, or the logits.
func (s *pipeStage) forwardGraph(w []*Node, x *Node) *Node {
	byName := make(map[string]*Node, len(w))
	for i, name := range s.Weights {
		byName[name] = w[i]
	}
	dims := x.Shape().Dimensions
	pos := positions(x.Graph(), dims[0], dims[1])
	if s.IsFirst() {
		return s.pipe.Decoder.StageGraph(s.Stage, byName, x, pos, nil)
	}
	return s.pipe.Decoder.StageGraph(s.Stage, byName, nil, pos, x)
}

// forward runs micro-batch x forward: it returns the residual stream for
// the next stage, or on the last stage the loss (targets y).
func (s *pipeStage) forward(x, y any) (any, error) {
	k := len(s.Weights)
	if s.fwd == nil {
		var err error
		in := flags(k, false, true)
		if s.IsLast() {
			in = append(in, true) // the targets
		}
		s.fwd, err = s.program("forward", in, []bool{!s.IsLast()}, func(in []*Node) []*Node {
			out := s.forwardGraph(in[:k], in[k])
			if s.IsLast() {
				return []*Node{CrossEntropy(out, in[k+1])}
			}
			return []*Node{out}
		})
		if err != nil {
			return nil, err
		}
	}
	args := append(slices.Clone(s.weights), x)
	if s.IsLast() {
		args = append(args, y)
	}
	outs, err := s.call(s.fwd, args...)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// backward recomputes micro-batch x's forward pass and takes the gradient
// of its output against y (the gradient of the residual stream leaving the
// stage, or on the last stage the targets of the loss): it adds the
// weights' gradients to the stage's sums and returns the gradient of the
// residual stream entering the stage (nil on the first stage).
func (s *pipeStage) backward(x, y any) (any, error) {
	k := len(s.Weights)
	if s.bwd == nil {
		var err error
		out := flags(k, false)
		if !s.IsFirst() {
			out = append(out, true) // the gradient of the stage's input
		}
		s.bwd, err = s.program("backward", flags(2*k, false, true, true), out, func(in []*Node) []*Node {
			w, acc, x, y := in[:k], in[k:2*k], in[2*k], in[2*k+1]
			out := s.forwardGraph(w, x)
			var objective *Node
			if s.IsLast() {
				objective = CrossEntropy(out, y)
			} else {
				objective = ReduceAllSum(Mul(out, y)) // its gradient is y pulled back through the stage
			}
			wrt := slices.Clone(w)
			if !s.IsFirst() {
				wrt = append(wrt, x)
			}
			grads := Gradient(objective, wrt...)
			res := make([]*Node, k, k+1)
			for i := range k {
				res[i] = Add(acc[i], grads[i])
			}
			if !s.IsFirst() {
				res = append(res, grads[k])
			}
			return res
		})
		if err != nil {
			return nil, err
		}
	}
	args := append(append(slices.Clone(s.weights), s.acc...), x, y)
	outs, err := s.call(s.bwd, args...)
	if err != nil {
		return nil, err
	}
	for i := range k {
		release(s.acc[i])
		s.acc[i] = outs[i]
	}
	if s.IsFirst() {
		return nil, nil
	}
	return outs[k], nil
}

// sumSquares returns the squared norm of the stage's share of the mean
// gradient (the gradient sums over n micro-batches, of its owned weights).
func (s *pipeStage) sumSquares(n int) (float32, error) {
	var owned []any
	for i, own := range s.owned {
		if own {
			owned = append(owned, s.acc[i])
		}
	}
	if len(owned) == 0 {
		return 0, nil
	}
	if s.norm == nil {
		var err error
		s.norm, err = s.program("norm", flags(len(owned)+1, false), []bool{false}, func(in []*Node) []*Node {
			n := in[len(in)-1]
			sum := ScalarZero(n.Graph(), dtypes.Float32)
			for _, a := range in[:len(in)-1] {
				sum = Add(sum, ReduceAllSum(Square(Div(a, n))))
			}
			return []*Node{sum}
		})
		if err != nil {
			return 0, err
		}
	}
	nv, err := s.put(tensors.FromScalar(float32(n)), false)
	if err != nil {
		return 0, err
	}
	outs, err := s.call(s.norm, append(owned, nv)...)
	if err != nil {
		return 0, err
	}
	t, err := s.host(outs[0])
	if err != nil {
		return 0, err
	}
	return tensors.MustCopyFlatData[float32](t)[0], nil
}

// update applies the optimizer to the stage's weights with the mean
// gradient over n micro-batches, clipped by the global norm √sumSq, and
// zeroes the gradient sums.
func (s *pipeStage) update(lr float64, step, n int, sumSq float32) error {
	k := len(s.Weights)
	var state []any
	for _, st := range s.state {
		state = append(state, st...)
	}
	ns := len(state)
	if s.apply == nil {
		var err error
		s.apply, err = s.program("update", flags(4+2*k+ns, false), flags(2*k+ns, false), func(in []*Node) []*Node {
			return s.updateGraph(in[0], in[1], in[2], in[3], in[4:4+k], in[4+k:4+k+ns], in[4+k+ns:])
		})
		if err != nil {
			return err
		}
	}
	args := make([]any, 0, 4+2*k+ns)
	for _, scalar := range []float32{float32(lr), float32(step), float32(n), sumSq} {
		v, err := s.put(tensors.FromScalar(scalar), false)
		if err != nil {
			return err
		}
		args = append(args, v)
	}
	args = append(append(append(args, s.weights...), state...), s.acc...)
	outs, err := s.call(s.apply, args...)
	if err != nil {
		return err
	}
	for _, v := range args[4:] {
		release(v)
	}
	s.weights, s.acc = outs[:k], outs[k+ns:]
	at := k
	for i := range s.state {
		s.state[i] = outs[at : at+len(s.state[i])]
		at += len(s.state[i])
	}
	return nil
}

// updateGraph is Trainer.update on the stage's weights w, optimizer state
// (flattened, by weight) and gradient sums acc, with the global squared
// norm sumSq given: it returns the new weights, state and zero sums.
func (s *pipeStage) updateGraph(lr, step, n, sumSq *Node, w, state, acc []*Node) []*Node {
	g := lr.Graph()
	scale := ScalarOne(g, dtypes.Float32)
	if s.pipe.Clip > 0 {
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, s.pipe.Clip), AddScalar(Sqrt(sumSq), 1e-6)))
	}
	var weights, newState, zeros []*Node
	at := 0
	for i, name := range s.Weights {
		m := len(s.state[i])
		p, st := s.pipe.Opt.Update(Update{Name: name, Weight: w[i], Grad: Mul(Div(acc[i], n), scale),
			State: state[at : at+m], LR: lr, Step: step})
		if len(st) != m {
			panic(fmt.Sprintf("training: the optimizer returned %d state tensors for %q, its State lists %d", len(st), name, m))
		}
		at += m
		weights, newState, zeros = append(weights, p), append(newState, st...), append(zeros, ZerosLike(acc[i]))
	}
	return append(append(weights, newState...), zeros...)
}

// stageRun is one stage's share of one step: its operations in order,
// receiving from and sending to its neighbours.
type stageRun struct {
	stage  *pipeStage
	micro  []microBatch
	losses []float64
	// in and gradOut come from the stage before and after; out and gradIn
	// go to them (nil at the ends).
	in, gradOut, out, gradIn chan pipeMsg
	done                     chan struct{}
	tl                       *PipeTimeline
	mu                       *sync.Mutex
	start                    time.Time
	// saved holds each micro-batch in flight's input, for its backward pass.
	saved map[int]any
}

// ops runs the stage's operations in order.
func (r *stageRun) ops(ops []PipeOp) error {
	for _, op := range ops {
		var err error
		if op.Backward {
			err = r.backward(op.MicroBatch)
		} else {
			err = r.forward(op.MicroBatch)
		}
		if err != nil {
			return fmt.Errorf("micro-batch %d: %w", op.MicroBatch, err)
		}
	}
	return nil
}

// receive takes micro-batch mb's message from ch (stopping when another
// stage failed) and copies it onto this stage's devices.
func (r *stageRun) receive(ch chan pipeMsg, mb int) (any, error) {
	select {
	case msg := <-ch:
		if msg.mb != mb {
			return nil, fmt.Errorf("received micro-batch %d out of order", msg.mb)
		}
		t0 := time.Now()
		n, err := r.stage.move(msg.v)
		r.mu.Lock()
		r.tl.Transfers++
		r.tl.TransferBytes += n
		r.tl.TransferTime += time.Since(t0)
		r.tl.ActivationBytes = n
		r.mu.Unlock()
		return msg.v, err
	case <-r.done:
		return nil, fmt.Errorf("stopped: another stage failed")
	}
}

// record adds an operation that ran from t0 until now to the timeline.
func (r *stageRun) record(mb int, backward bool, t0 time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tl.Events = append(r.tl.Events, PipeEvent{Stage: r.stage.Index, MicroBatch: mb, Backward: backward,
		Start: t0.Sub(r.start), End: time.Since(r.start)})
}

// forward runs micro-batch mb forward and passes its output on.
func (r *stageRun) forward(mb int) error {
	s := r.stage
	var x any
	var err error
	if s.IsFirst() {
		x, err = s.put(r.micro[mb].ids, true)
	} else {
		x, err = r.receive(r.in, mb)
	}
	if err != nil {
		return err
	}
	r.saved[mb] = x
	var y any
	if s.IsLast() {
		if y, err = s.put(r.micro[mb].targets, true); err != nil {
			return err
		}
	}
	t0 := time.Now()
	out, err := s.forward(x, y)
	if err != nil {
		return err
	}
	r.record(mb, false, t0)
	if s.mesh != nil && y != nil {
		release(y) // a fresh copy of the targets; on one device, the micro-batch's own, kept for backward
	}
	if !s.IsLast() {
		r.out <- pipeMsg{mb, out}
		return nil
	}
	t, err := s.host(out)
	if err != nil {
		return err
	}
	r.losses[mb] = float64(tensors.MustCopyFlatData[float32](t)[0])
	release(out)
	return nil
}

// backward runs micro-batch mb backward and passes the gradient of its
// input back.
func (r *stageRun) backward(mb int) error {
	s := r.stage
	var y any
	var err error
	if s.IsLast() {
		y, err = s.put(r.micro[mb].targets, true)
	} else {
		y, err = r.receive(r.gradOut, mb)
	}
	if err != nil {
		return err
	}
	x := r.saved[mb]
	delete(r.saved, mb)
	t0 := time.Now()
	gradIn, err := s.backward(x, y)
	if err != nil {
		return err
	}
	r.record(mb, true, t0)
	release(x)
	release(y)
	if !s.IsFirst() {
		r.gradIn <- pipeMsg{mb, gradIn}
	}
	return nil
}
