package training

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Processes are several processes training one model together, data
// parallel (an MPI job: training/mpi's World): each keeps its own engine
// and copy of the weights, takes its share of every global batch, and the
// gradients are summed across them between the gradient program and the
// update program, so that every copy takes the same step.
type Processes interface {
	// Rank is this process's place, 0 … Size-1; rank 0 writes checkpoints.
	Rank() int
	Size() int
	// AllReduceSum replaces data in every process by its sum over all.
	AllReduceSum(data []float32) error
	// Broadcast replaces data in every process by root's.
	Broadcast(data []float32, root int) error
}

// SetProcesses makes t one of p's processes (nil, or a group of one:
// training alone). The weights and the optimizer state are broadcast from
// rank 0, so every copy starts equal. From then on Step and
// StepAccumulated take the global batch: each process trains on its share
// of the rows (rank r of n takes rows r·B/n … (r+1)·B/n-1, so B must
// divide by n), and the loss and the gradient are the means over all
// processes — the global batch's when every row counts as many tokens
// (with labels masked unevenly across rows, the mean of the processes'
// means). Eval splits a batch the same way when its rows divide.
// SaveCheckpoint writes on rank 0 only; LoadCheckpoint reads on every rank.
// A nil *mpi.World is a group of one.
//
// Every process must make the same calls in the same order, with the same
// global batches (draw them from the same seed). Dropout draws from the
// same stream in every process (so that a checkpoint, written by rank 0,
// resumes every rank's masks): the shares of a batch get the same masks,
// and the losses then differ from one process's, whose masks cover the
// whole batch.
func (t *Trainer) SetProcesses(p Processes) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p != nil && p.Size() <= 1 {
		p = nil
	}
	t.procs = p
	if p == nil {
		return nil
	}
	for _, v := range t.trainedVariables() {
		if err := t.broadcast(v); err != nil {
			return err
		}
	}
	if s := t.Params.Sharding(); s != nil {
		return t.Params.Shard(s) // the values broadcast are whole, on the host
	}
	return nil
}

// trainedVariables returns the trainable weights and the optimizer's state,
// in the same order in every process.
func (t *Trainer) trainedVariables() []*model.Variable {
	var vars []*model.Variable
	for _, name := range t.names {
		vars = append(vars, t.Params.Variable(name))
		for _, sv := range t.state[name] {
			vars = append(vars, sv.v)
		}
	}
	return vars
}

// broadcast sets v to rank 0's value in every process.
func (t *Trainer) broadcast(v *model.Variable) error {
	data, err := variableData(v)
	if err != nil {
		return err
	}
	if err := t.procs.Broadcast(data, 0); err != nil {
		return fmt.Errorf("training: broadcasting %q: %w", v.Path(), err)
	}
	return v.SetValue(tensors.FromFlatDataAndDimensions(data, v.Shape().Dimensions...))
}

// variableData copies v's value (merged when sharded) to the host.
func variableData(v *model.Variable) ([]float32, error) {
	if dt := v.Shape().DType; dt != dtypes.Float32 {
		return nil, fmt.Errorf("training: variable %q is %s; training across processes exchanges float32 only", v.Path(), dt)
	}
	value, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("training: variable %q: %w", v.Path(), err)
	}
	return tensors.CopyFlatData[float32](value)
}

// multiProcess reports whether steps are shared with other processes.
func (t *Trainer) multiProcess() bool { return t.procs != nil }

// localRows returns this process's share of batch: rows rank·B/n …
// (rank+1)·B/n-1 of every input with rows (scalars are kept whole).
func (t *Trainer) localRows(batch []*tensors.Tensor) ([]*tensors.Tensor, error) {
	n, rank := t.procs.Size(), t.procs.Rank()
	out := make([]*tensors.Tensor, len(batch))
	for i, b := range batch {
		if b.Rank() == 0 {
			out[i] = b
			continue
		}
		dims := b.Shape().Dimensions
		if dims[0]%n != 0 {
			return nil, fmt.Errorf("training: batch input %d has %d rows, which do not split over %d processes", i, dims[0], n)
		}
		local := append([]int{dims[0] / n}, dims[1:]...)
		part := tensors.FromShape(shapes.Make(b.DType(), local...))
		var copyErr error
		err := b.ConstBytes(func(src []byte) {
			size := len(src) / n
			copyErr = part.MutableBytes(func(dst []byte) { copy(dst, src[rank*size:(rank+1)*size]) })
		})
		if err == nil {
			err = copyErr
		}
		if err != nil {
			return nil, fmt.Errorf("training: batch input %d: %w", i, err)
		}
		out[i] = part
	}
	return out, nil
}

// stepProcesses is StepAccumulated across processes: this process's share
// of each micro-batch adds its gradients into the accumulators, the
// accumulators (and the loss) are summed over the processes, and the update
// program applies their mean. t.mu is held.
func (t *Trainer) stepProcesses(lr float64, microBatches [][]*tensors.Tensor) (loss, gradNorm float64, err error) {
	local := make([][]*tensors.Tensor, len(microBatches))
	for i, mb := range microBatches {
		if local[i], err = t.localRows(mb); err != nil {
			return 0, 0, err
		}
		if err := t.checkLayout(local[i]); err != nil {
			return 0, 0, err
		}
	}
	if err := t.buildAccumulation(); err != nil {
		return 0, 0, err
	}
	total, err := t.accumulate(local)
	if err != nil {
		return 0, 0, err
	}
	if total, err = t.allReduceAccumulators(total); err != nil {
		return 0, 0, err
	}
	count := len(microBatches) * t.procs.Size()
	norm, err := t.apply(lr, count)
	if err != nil {
		return 0, 0, err
	}
	return total / float64(count), norm, nil
}

// allReduceAccumulators sums the gradient accumulators and loss over the
// processes, in one message, and returns the summed loss.
func (t *Trainer) allReduceAccumulators(loss float64) (float64, error) {
	var flat []float32
	sizes := make([]int, len(t.names))
	for i, name := range t.names {
		data, err := variableData(t.acc[name])
		if err != nil {
			return 0, err
		}
		flat, sizes[i] = append(flat, data...), len(data)
	}
	flat = append(flat, float32(loss))
	if err := t.procs.AllReduceSum(flat); err != nil {
		return 0, fmt.Errorf("training: summing gradients over %d processes: %w", t.procs.Size(), err)
	}
	for i, name := range t.names {
		acc := t.acc[name]
		sum := tensors.FromFlatDataAndDimensions(flat[:sizes[i]:sizes[i]], acc.Shape().Dimensions...)
		// A sharded accumulator is split again, by its spec, when the
		// update program asks for it.
		if err := acc.SetValue(sum); err != nil {
			return 0, fmt.Errorf("training: gradient accumulator %q: %w", acc.Path(), err)
		}
		flat = flat[sizes[i]:]
	}
	return float64(flat[0]), nil
}

// evalProcesses is Eval across processes: each evaluates its share of the
// rows and the losses are averaged; a batch whose rows do not split is
// evaluated whole by every process. t.mu is held.
func (t *Trainer) evalProcesses(batch []*tensors.Tensor) (float64, error) {
	local, err := t.localRows(batch)
	if err != nil {
		return t.evalLocal(batch)
	}
	loss, err := t.evalLocal(local)
	if err != nil {
		return 0, err
	}
	sum := []float32{float32(loss)}
	if err := t.procs.AllReduceSum(sum); err != nil {
		return 0, fmt.Errorf("training: averaging the evaluation loss over %d processes: %w", t.procs.Size(), err)
	}
	return float64(sum[0]) / float64(t.procs.Size()), nil
}
