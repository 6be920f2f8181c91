package training

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Optimizer turns each weight's gradient into its update, inside the
// training step's compiled graph. The trainer keeps the state it asks for
// (moments, momentum buffers) as variables beside the weights: saved in
// checkpoints, restored on resume, and laid out over a mesh as the weight
// is when they have its shape.
//
// AdamW, SGD, Lion and Adafactor are provided; Example_optimizer writes one.
type Optimizer interface {
	// State names the tensors kept for a weight of shape dims, with their
	// shapes; they start at zero.
	State(weight string, dims []int) []StateSpec
	// Update returns the weight after one step and the new value of each
	// state tensor, in State's order.
	Update(u Update) (weight *Node, state []*Node)
}

// StateSpec is one state tensor an optimizer keeps for a weight: Name is
// a short kind ("m", "v", "momentum", ...) that the checkpoint stores as
// optimizer.<Name>.<weight>.
type StateSpec struct {
	Name string
	Dims []int
}

// Update is what an optimizer is given for one weight in one step.
type Update struct {
	// Name is the weight's name; Weight its value before the step.
	Name   string
	Weight *Node
	// Grad is the gradient, after clipping.
	Grad *Node
	// State holds the state tensors, in the order State listed them.
	State []*Node
	// LR is the learning rate and Step the step's number, counting from 1
	// (float32 scalars).
	LR, Step *Node
}

// Validate reports settings an optimizer cannot run with; NewTrainer calls
// it on optimizers that have it.
type validator interface{ Validate() error }

// AdamW holds the optimizer's settings, with torch.optim.AdamW's meaning.
type AdamW struct {
	Beta1, Beta2, Epsilon float64
	// WeightDecay is decoupled: each step multiplies decayed weights by
	// (1 - lr·WeightDecay).
	WeightDecay float64
	// Decay reports whether a weight is decayed; nil means nanoGPT's rule
	// (weights with two or more dimensions).
	Decay func(name string, dims []int) bool
}

// DefaultAdamW is nanoGPT's optimizer: betas (0.9, 0.95), epsilon 1e-8,
// weight decay 0.1.
func DefaultAdamW() AdamW { return AdamW{Beta1: 0.9, Beta2: 0.95, Epsilon: 1e-8, WeightDecay: 0.1} }

// Validate rejects unset or out-of-range betas and negative settings.
func (o AdamW) Validate() error {
	if o.Beta1 == 0 && o.Beta2 == 0 {
		return fmt.Errorf("training: AdamW betas unset (use DefaultAdamW())")
	}
	if err := checkBetas("AdamW", o.Beta1, o.Beta2); err != nil {
		return err
	}
	return checkNonNegative("AdamW", "Epsilon", o.Epsilon, "WeightDecay", o.WeightDecay)
}

// State is the first and second moments, m and v.
func (o AdamW) State(_ string, dims []int) []StateSpec {
	return []StateSpec{{"m", dims}, {"v", dims}}
}

// Update is torch.optim.AdamW's step.
func (o AdamW) Update(u Update) (*Node, []*Node) {
	g := u.Grad.Graph()
	b1, b2 := o.Beta1, o.Beta2
	bc1 := OneMinus(Pow(Scalar(g, dtypes.Float32, b1), u.Step))
	bc2 := OneMinus(Pow(Scalar(g, dtypes.Float32, b2), u.Step))
	m := Add(MulScalar(u.State[0], b1), MulScalar(u.Grad, 1-b1))
	v := Add(MulScalar(u.State[1], b2), MulScalar(Square(u.Grad), 1-b2))
	p := u.Weight
	if o.WeightDecay > 0 && decays(o.Decay, u.Name, p.Shape().Dimensions) {
		p = Mul(p, OneMinus(MulScalar(u.LR, o.WeightDecay)))
	}
	denom := AddScalar(Div(Sqrt(v), Sqrt(bc2)), o.Epsilon)
	return Sub(p, Mul(Div(u.LR, bc1), Div(m, denom))), []*Node{m, v}
}

// decays applies a Decay rule (nil: nanoGPT's, weights of two or more
// dimensions).
func decays(rule func(string, []int) bool, name string, dims []int) bool {
	if rule != nil {
		return rule(name, dims)
	}
	return len(dims) >= 2
}

// SGD is torch.optim.SGD: stochastic gradient descent with optional
// momentum (dampened, or Nesterov's) and L2 weight decay added to the
// gradient.
type SGD struct {
	Momentum, Dampening float64
	Nesterov            bool
	// WeightDecay adds WeightDecay·weight to every gradient (L2, coupled,
	// as torch does).
	WeightDecay float64
}

// Validate rejects negative settings and Nesterov momentum without
// momentum or with dampening (torch's rule).
func (o SGD) Validate() error {
	if err := checkNonNegative("SGD", "Momentum", o.Momentum, "Dampening", o.Dampening, "WeightDecay", o.WeightDecay); err != nil {
		return err
	}
	if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
		return fmt.Errorf("training: SGD with Nesterov momentum needs Momentum > 0 and Dampening 0")
	}
	return nil
}

// State is the momentum buffer (none without momentum).
func (o SGD) State(_ string, dims []int) []StateSpec {
	if o.Momentum == 0 {
		return nil
	}
	return []StateSpec{{"momentum", dims}}
}

// Update is torch.optim.SGD's step; the momentum buffer starts as the first
// gradient.
func (o SGD) Update(u Update) (*Node, []*Node) {
	d := u.Grad
	if o.WeightDecay != 0 {
		d = Add(d, MulScalar(u.Weight, o.WeightDecay))
	}
	var state []*Node
	if o.Momentum != 0 {
		later := Add(MulScalar(u.State[0], o.Momentum), MulScalar(d, 1-o.Dampening))
		first := BroadcastToShape(Equal(u.Step, OnesLike(u.Step)), d.Shape())
		buf := Where(first, d, later)
		state = []*Node{buf}
		if o.Nesterov {
			d = Add(d, MulScalar(buf, o.Momentum))
		} else {
			d = buf
		}
	}
	return Sub(u.Weight, Mul(u.LR, d)), state
}

// Lion is the optimizer of Chen et al., "Symbolic Discovery of
// Optimization Algorithms" (2023): the sign of an interpolation of the
// momentum and the gradient, with decoupled weight decay. Its learning
// rate is typically 3–10× smaller than AdamW's.
type Lion struct {
	Beta1, Beta2 float64
	WeightDecay  float64
	// Decay reports whether a weight is decayed (nil: weights of two or
	// more dimensions, as AdamW's rule).
	Decay func(name string, dims []int) bool
}

// DefaultLion has the paper's betas (0.9, 0.99) and no weight decay.
func DefaultLion() Lion { return Lion{Beta1: 0.9, Beta2: 0.99} }

// Validate rejects betas outside [0, 1) and a negative weight decay.
func (o Lion) Validate() error {
	if err := checkBetas("Lion", o.Beta1, o.Beta2); err != nil {
		return err
	}
	return checkNonNegative("Lion", "WeightDecay", o.WeightDecay)
}

// State is the momentum m.
func (o Lion) State(_ string, dims []int) []StateSpec { return []StateSpec{{"m", dims}} }

// Update is Lion's step: p ← p·(1 − lr·λ) − lr·sign(β1·m + (1−β1)·g);
// m ← β2·m + (1−β2)·g.
func (o Lion) Update(u Update) (*Node, []*Node) {
	p := u.Weight
	if o.WeightDecay > 0 && decays(o.Decay, u.Name, p.Shape().Dimensions) {
		p = Mul(p, OneMinus(MulScalar(u.LR, o.WeightDecay)))
	}
	direction := Sign(Add(MulScalar(u.State[0], o.Beta1), MulScalar(u.Grad, 1-o.Beta1)))
	m := Add(MulScalar(u.State[0], o.Beta2), MulScalar(u.Grad, 1-o.Beta2))
	return Sub(p, Mul(u.LR, direction)), []*Node{m}
}

// Adafactor is torch.optim.Adafactor (Shazeer and Stern, 2018): second
// moments factored into row and column means over a matrix's last two
// axes (a vector keeps its full second moment), a relative step size
// min(lr, 1/√t) scaled by the weight's RMS, and update clipping. As in
// torch, the learning rate bounds the relative step and scales the
// decoupled weight decay.
type Adafactor struct {
	// Beta2Decay sets the second-moment decay: β2_t = 1 − t^Beta2Decay
	// (torch's default −0.8).
	Beta2Decay float64
	// Epsilon1 stabilizes the update's denominator (0: float32's machine
	// epsilon, torch's default); Epsilon2 is the least weight RMS the step
	// is scaled by (torch: 1e-3).
	Epsilon1, Epsilon2 float64
	// D is the update clipping threshold (torch: 1).
	D float64
	// WeightDecay is decoupled: weights are multiplied by (1 − lr·WeightDecay).
	WeightDecay float64
}

// DefaultAdafactor has torch's defaults (use it with a learning rate of
// about 1e-2, torch's default lr).
func DefaultAdafactor() Adafactor { return Adafactor{Beta2Decay: -0.8, Epsilon2: 1e-3, D: 1} }

// Validate rejects torch's invalid settings: Beta2Decay > 0, negative
// epsilons or weight decay, D < 1.
func (o Adafactor) Validate() error {
	if o.Beta2Decay > 0 {
		return fmt.Errorf("training: Adafactor Beta2Decay must be <= 0, got %v", o.Beta2Decay)
	}
	if o.D < 1 {
		return fmt.Errorf("training: Adafactor clipping threshold D must be >= 1, got %v (DefaultAdafactor sets 1)", o.D)
	}
	return checkNonNegative("Adafactor", "Epsilon1", o.Epsilon1, "Epsilon2", o.Epsilon2, "WeightDecay", o.WeightDecay)
}

// State is the row and column means of the squared gradient ([..., rows, 1]
// and [..., 1, cols]) for a weight of two or more dimensions, else the
// full second moment.
func (o Adafactor) State(_ string, dims []int) []StateSpec {
	n := len(dims)
	if n < 2 {
		return []StateSpec{{"variance", dims}}
	}
	row := append(append([]int{}, dims[:n-1]...), 1)
	col := append(append([]int{}, dims[:n-2]...), 1, dims[n-1])
	return []StateSpec{{"row", row}, {"col", col}}
}

// Update is torch.optim.Adafactor's step.
func (o Adafactor) Update(u Update) (*Node, []*Node) {
	g := u.Grad.Graph()
	eps1 := o.Epsilon1
	if eps1 == 0 {
		eps1 = float64(math.Nextafter32(1, 2) - 1)
	}
	p, grad := u.Weight, u.Grad
	n := p.Rank()
	oneMinusBeta2 := Pow(u.Step, Scalar(g, dtypes.Float32, o.Beta2Decay))
	rho := Min(u.LR, Div(OnesLike(u.Step), Sqrt(u.Step)))
	rms := func(x *Node) *Node { return Sqrt(ReduceAllMean(Square(x))) }
	alpha := Mul(Max(rms(p), Scalar(g, dtypes.Float32, o.Epsilon2)), rho)
	if o.WeightDecay != 0 {
		p = Mul(p, OneMinus(MulScalar(u.LR, o.WeightDecay)))
	}
	lerp := func(from, to *Node) *Node { return Add(from, Mul(Sub(to, from), oneMinusBeta2)) }
	var variance *Node
	var state []*Node
	if n < 2 {
		variance = lerp(u.State[0], Square(grad))
		state = []*Node{variance}
	} else {
		row := lerp(u.State[0], ReduceAndKeep(Square(grad), ReduceMean, n-1))
		col := lerp(u.State[1], ReduceAndKeep(Square(grad), ReduceMean, n-2))
		rowMean := MaxScalar(ReduceAndKeep(row, ReduceMean, n-2), eps1)
		variance = Div(Mul(row, col), rowMean) // row @ col: [.., r, 1]·[.., 1, c]
		state = []*Node{row, col}
	}
	update := Div(grad, Sqrt(MaxScalar(variance, eps1*eps1)))
	denom := Max(ScalarOne(g, dtypes.Float32), DivScalar(rms(update), o.D))
	return Sub(p, Mul(Div(alpha, denom), update)), state
}

func checkBetas(name string, b1, b2 float64) error {
	for _, b := range []float64{b1, b2} {
		if !(b >= 0 && b < 1) {
			return fmt.Errorf("training: %s betas must be in [0, 1), got (%v, %v)", name, b1, b2)
		}
	}
	return nil
}

// checkNonNegative takes pairs of a field's name and its value.
func checkNonNegative(optimizer string, fields ...any) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if v := fields[i+1].(float64); !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("training: %s %s must be a finite number >= 0, got %v", optimizer, fields[i], v)
		}
	}
	return nil
}

// ParseOptimizer returns the optimizer named "adamw" (nanoGPT's, see
// DefaultAdamW), "sgd" (with momentum 0.9), "nesterov" (SGD with Nesterov
// momentum 0.9), "lion" or "adafactor", with their defaults; experiments
// take it as a flag.
func ParseOptimizer(name string) (Optimizer, error) {
	switch strings.ToLower(name) {
	case "adamw":
		return DefaultAdamW(), nil
	case "sgd":
		return SGD{Momentum: 0.9}, nil
	case "nesterov":
		return SGD{Momentum: 0.9, Nesterov: true}, nil
	case "lion":
		return DefaultLion(), nil
	case "adafactor":
		return DefaultAdafactor(), nil
	}
	return nil, fmt.Errorf("training: unknown optimizer %q (have adamw, sgd, nesterov, lion, adafactor)", name)
}
