package training

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Dynamic loss scaling, PyTorch's GradScaler defaults: start at 2^16,
// halve on a step whose gradients overflow (the step is skipped), double
// after 2,000 steps without one.
const (
	initialLossScale = 65536
	lossScaleGrowth  = 2000
)

// lossScaler is float16 training's loss scale and its count of steps
// without an overflow, kept on the device.
type lossScaler struct {
	scale, good *model.Variable
}

// ParsePrecision returns the dtype named "float32", "bfloat16" (or "bf16")
// or "float16" ("fp16").
func ParsePrecision(name string) (dtypes.DType, error) {
	switch strings.ToLower(name) {
	case "float32", "fp32", "f32":
		return dtypes.Float32, nil
	case "bfloat16", "bf16":
		return dtypes.BFloat16, nil
	case "float16", "fp16", "f16", "half":
		return dtypes.Float16, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("training: precision %q: want float32, bfloat16 or float16", name)
}

// SetPrecision sets the dtype of the matrix products in the trainer's
// graphs: float32 (the default), bfloat16, or float16 with dynamic loss
// scaling (the loss is multiplied by a scale before the gradients are
// taken and the gradients divided by it; a step whose gradients overflow
// is skipped and the scale halved, and it doubles after 2,000 good steps,
// as torch.cuda.amp.GradScaler). Weights, optimizer state, norms, softmax
// and the loss stay float32: mixed precision, as PyTorch's autocast. An
// engine that cannot run dtype is an error that says so.
func (t *Trainer) SetPrecision(dtype dtypes.DType) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch dtype {
	case dtypes.Float32, dtypes.BFloat16, dtypes.Float16:
	default:
		return fmt.Errorf("training: precision %s: want float32, bfloat16 or float16", dtype)
	}
	if dtype != dtypes.Float32 && !t.Backend.Capabilities().DTypes[dtype] {
		return fmt.Errorf("training: %s cannot run %s matrix products (its engine lists no %s); train in float32 there, or use xla:cpu, go or a GPU",
			xla.SpecOf(t.Backend), dtype, dtype)
	}
	if dtype == dtypes.Float16 && t.scaler == nil {
		scale, err := t.Params.Store.CreateVariable("/trainer/loss_scale", tensors.FromScalar(float32(initialLossScale)))
		if err != nil {
			return err
		}
		good, err := t.Params.Store.CreateVariable("/trainer/good_steps", tensors.FromScalar(float32(0)))
		if err != nil {
			return err
		}
		t.scaler = &lossScaler{scale: scale.SetTrainable(false), good: good.SetTrainable(false)}
	}
	if dtype != dtypes.Float16 {
		t.scaler = nil
	}
	t.precision = dtype
	t.trainExec, t.evalExec, t.accExec, t.applyExec = nil, nil, nil, nil // rebuilt in the new precision
	return nil
}

// Precision returns the dtype of the matrix products (see SetPrecision).
func (t *Trainer) Precision() dtypes.DType {
	if t.precision == dtypes.InvalidDType {
		return dtypes.Float32
	}
	return t.precision
}

// LossScale returns float16 training's current loss scale (0 otherwise).
func (t *Trainer) LossScale() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.scaler == nil {
		return 0
	}
	v, err := t.scaler.scale.Value()
	if err != nil {
		return 0
	}
	return float64(tensors.MustCopyFlatData[float32](v)[0])
}

// SetGradientCheckpointing turns gradient checkpointing on or off: in
// training steps each transformer block keeps only its input for the
// backward pass and recomputes its activations there (the blocks the
// families open with modeling.Scope.Block), trading about one more forward
// pass for the memory of all but one block's activations. The gradients
// are the same. An engine without the optimization barrier it needs is an
// error that says so.
func (t *Trainer) SetGradientCheckpointing(on bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if on && !t.Backend.Capabilities().Operations[compute.OpTypeOptimizationBarrier] {
		return fmt.Errorf("training: %s has no optimization barrier, which gradient checkpointing needs; use xla:cpu, go or a GPU", xla.SpecOf(t.Backend))
	}
	t.checkpointing = on
	t.trainExec, t.accExec = nil, nil // rebuilt with or without it
	return nil
}

// prepare sets g's compute dtype, and gradient checkpointing in the graphs
// that are differentiated.
func (t *Trainer) prepare(g *Graph) {
	if p := t.Precision(); p != dtypes.Float32 {
		modeling.SetComputeDType(g, p)
	}
	if t.checkpointing && g.State(differentiated{}) != nil {
		modeling.CheckpointBlocks(g)
	}
}

// differentiated marks the trainer's graphs that take gradients.
type differentiated struct{}

// scaled returns the loss to differentiate: multiplied by the loss scale
// in float16 training.
func (t *Trainer) scaled(g *Graph, loss *Node) *Node {
	if t.scaler == nil {
		return loss
	}
	return Mul(loss, t.scaler.scale.NodeValue(g))
}

// unscaled divides gradients taken of a scaled loss by the scale.
func (t *Trainer) unscaled(g *Graph, grads []*Node) []*Node {
	if t.scaler == nil {
		return grads
	}
	scale := t.scaler.scale.NodeValue(g)
	out := make([]*Node, len(grads))
	for i, gr := range grads {
		out[i] = Div(gr, scale)
	}
	return out
}

// guard keeps the old value of every variable the update wrote when the
// gradients overflowed (their squared norm sumSq is not finite), and moves
// the loss scale: it is float16 training's skipped step.
func (t *Trainer) guard(g *Graph, sumSq *Node, written []*model.Variable, old []*Node) {
	if t.scaler == nil {
		return
	}
	finite := LessThan(sumSq, Scalar(g, dtypes.Float32, math.Inf(1))) // false for +Inf and NaN
	for i, v := range written {
		v.SetNodeValue(Where(BroadcastToShape(finite, old[i].Shape()), v.NodeValue(g), old[i]))
	}
	scale, good := t.scaler.scale.NodeValue(g), t.scaler.good.NodeValue(g)
	next := AddScalar(good, 1)
	grow := GreaterOrEqual(next, Scalar(g, dtypes.Float32, lossScaleGrowth))
	t.scaler.scale.SetNodeValue(Where(finite, Where(grow, MulScalar(scale, 2), scale), MulScalar(scale, 0.5)))
	t.scaler.good.SetNodeValue(Where(finite, Where(grow, ZerosLike(good), next), ZerosLike(good)))
}

// Checkpoint metadata of float16 training's loss scale: "scale good".
const metaLossScale = "trustformers.loss_scale"

func (t *Trainer) lossScaleState() (string, error) {
	if t.scaler == nil {
		return "", nil
	}
	s, err := t.scaler.scale.Value()
	if err != nil {
		return "", err
	}
	g, err := t.scaler.good.Value()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%v %v", tensors.MustCopyFlatData[float32](s)[0], tensors.MustCopyFlatData[float32](g)[0]), nil
}

func (t *Trainer) restoreLossScale(state string) error {
	if t.scaler == nil || state == "" {
		return nil
	}
	f := strings.Fields(state)
	if len(f) != 2 {
		return fmt.Errorf("want \"scale good-steps\", got %q", state)
	}
	var vals [2]float32
	for i, s := range f {
		v, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return err
		}
		vals[i] = float32(v)
	}
	if err := t.scaler.scale.SetValue(tensors.FromScalar(vals[0])); err != nil {
		return err
	}
	return t.scaler.good.SetValue(tensors.FromScalar(vals[1]))
}
