package training

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// refWeight is one weight of the float64 re-implementations below: its
// value, its shape and whatever state the reference update keeps.
type refWeight struct {
	name  string
	p     []float64
	dims  []int
	state map[string][]float64
}

func (w *refWeight) buf(name string, n int) []float64 {
	if w.state == nil {
		w.state = map[string][]float64{}
	}
	if w.state[name] == nil {
		w.state[name] = make([]float64, n)
	}
	return w.state[name]
}

// sgdRef is torch.optim.SGD's step (torch/optim/sgd.py, _single_tensor_sgd).
func sgdRef(o SGD) func(w *refWeight, g []float64, lr float64, step int) {
	return func(w *refWeight, g []float64, lr float64, step int) {
		buf := w.buf("momentum", len(g))
		for i := range w.p {
			d := g[i] + o.WeightDecay*w.p[i]
			if o.Momentum != 0 {
				if step == 1 {
					buf[i] = d
				} else {
					buf[i] = o.Momentum*buf[i] + (1-o.Dampening)*d
				}
				if o.Nesterov {
					d += o.Momentum * buf[i]
				} else {
					d = buf[i]
				}
			}
			w.p[i] -= lr * d
		}
	}
}

// lionRef is Lion's update as the paper's Program 1 writes it.
func lionRef(o Lion) func(w *refWeight, g []float64, lr float64, step int) {
	return func(w *refWeight, g []float64, lr float64, _ int) {
		m := w.buf("m", len(g))
		decay := len(w.dims) >= 2
		for i := range w.p {
			if decay {
				w.p[i] *= 1 - lr*o.WeightDecay
			}
			c := o.Beta1*m[i] + (1-o.Beta1)*g[i]
			w.p[i] -= lr * float64(sign(c))
			m[i] = o.Beta2*m[i] + (1-o.Beta2)*g[i]
		}
	}
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// adafactorRef is torch.optim.Adafactor's step (torch/optim/_adafactor.py,
// _single_tensor_adafactor) for vectors and matrices.
func adafactorRef(o Adafactor) func(w *refWeight, g []float64, lr float64, step int) {
	return func(w *refWeight, g []float64, lr float64, step int) {
		eps1 := float64(math.Nextafter32(1, 2) - 1)
		t := float64(step)
		oneMinusBeta2 := math.Pow(t, o.Beta2Decay)
		rho := math.Min(lr, 1/math.Sqrt(t))
		alpha := math.Max(o.Epsilon2, rms(w.p)) * rho
		for i := range w.p {
			w.p[i] *= 1 - lr*o.WeightDecay
		}
		v := make([]float64, len(g))
		if len(w.dims) == 1 {
			variance := w.buf("variance", len(g))
			for i := range g {
				variance[i] += (g[i]*g[i] - variance[i]) * oneMinusBeta2
				v[i] = variance[i]
			}
		} else {
			r, c := w.dims[0], w.dims[1]
			row, col := w.buf("row", r), w.buf("col", c)
			for i := range r {
				mean := 0.0
				for j := range c {
					mean += g[i*c+j] * g[i*c+j] / float64(c)
				}
				row[i] += (mean - row[i]) * oneMinusBeta2
			}
			for j := range c {
				mean := 0.0
				for i := range r {
					mean += g[i*c+j] * g[i*c+j] / float64(r)
				}
				col[j] += (mean - col[j]) * oneMinusBeta2
			}
			rowMean := 0.0
			for i := range r {
				rowMean += row[i] / float64(r)
			}
			for i := range r {
				for j := range c {
					v[i*c+j] = row[i] * col[j] / math.Max(rowMean, eps1)
				}
			}
		}
		u := make([]float64, len(g))
		for i := range g {
			u[i] = g[i] / math.Sqrt(math.Max(v[i], eps1*eps1))
		}
		denom := math.Max(1, rms(u)/o.D)
		for i := range w.p {
			w.p[i] -= alpha / denom * u[i]
		}
	}
}

func rms(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s / float64(len(x)))
}

// Each optimizer, in the trainer, against a float64 re-implementation of
// its reference update: a matrix (decayed, factored by Adafactor) and a
// vector, four steps of gradients that change every step, a learning rate
// that changes too.
func TestOptimizersMatchTheirReferences(t *testing.T) {
	backend := golden.Backend(t)
	for _, tc := range []struct {
		name string
		opt  Optimizer
		ref  func(w *refWeight, g []float64, lr float64, step int)
		lr   float64
	}{
		{"sgd", SGD{}, sgdRef(SGD{}), 0.1},
		{"sgd momentum dampening decay", SGD{Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.01}, sgdRef(SGD{Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.01}), 0.1},
		{"sgd nesterov", SGD{Momentum: 0.8, Nesterov: true}, sgdRef(SGD{Momentum: 0.8, Nesterov: true}), 0.1},
		{"lion", Lion{Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.5}, lionRef(Lion{Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.5}), 0.01},
		{"adafactor", DefaultAdafactor(), adafactorRef(DefaultAdafactor()), 0.01},
		{"adafactor decay clip", Adafactor{Beta2Decay: -0.5, Epsilon2: 1e-2, D: 1.5, WeightDecay: 0.1}, adafactorRef(Adafactor{Beta2Decay: -0.5, Epsilon2: 1e-2, D: 1.5, WeightDecay: 0.1}), 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := modeling.NewParams()
			w0 := []float32{0.5, -1, 2, 0.25, -0.75, 1.5}
			b0 := []float32{0.1, -0.2, 0.3}
			params.Set("w", tensors.FromFlatDataAndDimensions(append([]float32(nil), w0...), 2, 3))
			params.Set("b", tensors.FromFlatDataAndDimensions(append([]float32(nil), b0...), 3))
			loss := func(g *Graph, batch []*Node) *Node {
				return Add(ReduceAllSum(Mul(params.Node(g, "w"), batch[0])), ReduceAllSum(Mul(params.Node(g, "b"), batch[1])))
			}
			tr, err := NewTrainer(params, backend, loss, tc.opt, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := []*refWeight{{name: "w", p: f64(w0), dims: []int{2, 3}}, {name: "b", p: f64(b0), dims: []int{3}}}
			for step := 1; step <= 4; step++ {
				s := float32(step)
				x := []float32{1 * s, -2, 3 / s, 0.5, 4 - s, -1}
				c := []float32{2, 0.5 * s, -3}
				lr := tc.lr * (1 + 0.25*float64(step))
				if _, _, err := tr.Step(lr, tensors.FromFlatDataAndDimensions(x, 2, 3), tensors.FromFlatDataAndDimensions(c, 3)); err != nil {
					t.Fatal(err)
				}
				tc.ref(want[0], f64(x), lr, step)
				tc.ref(want[1], f64(c), lr, step)
			}
			for _, w := range want {
				got, err := params.Variable(w.name).Value()
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range tensors.MustCopyFlatData[float32](got) {
					if d := math.Abs(float64(v) - w.p[i]); d > 2e-6*math.Max(1, math.Abs(w.p[i])) {
						t.Errorf("%s[%d] after 4 steps = %.7f, the reference update gives %.7f", w.name, i, v, w.p[i])
					}
				}
			}
		})
	}
}

// A run resumed from a checkpoint continues as if never stopped, with the
// optimizer's own state (Adafactor's factored moments have other shapes
// than their weights; SGD's momentum starts from the first gradient).
func TestOptimizerStateResumes(t *testing.T) {
	backend := golden.Backend(t)
	for _, opt := range []Optimizer{DefaultAdafactor(), SGD{Momentum: 0.9, Dampening: 0.5}, DefaultLion()} {
		name := fmt.Sprintf("%T", opt)
		t.Run(name, func(t *testing.T) {
			run := func(steps int, resumeFrom string, saveTo string) []float32 {
				params := modeling.NewParams()
				params.Set("w", tensors.FromFlatDataAndDimensions([]float32{0.5, -1, 2, 0.25, -0.75, 1.5}, 2, 3))
				loss := func(g *Graph, batch []*Node) *Node {
					return ReduceAllSum(Square(Sub(params.Node(g, "w"), batch[0])))
				}
				tr, err := NewTrainer(params, backend, loss, opt, 1)
				if err != nil {
					t.Fatal(err)
				}
				if resumeFrom != "" {
					if _, err := tr.LoadCheckpoint(resumeFrom); err != nil {
						t.Fatal(err)
					}
				}
				for tr.Steps() < steps {
					target := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, float32(tr.Steps())}, 2, 3)
					if _, _, err := tr.Step(0.01, target); err != nil {
						t.Fatal(err)
					}
				}
				if saveTo != "" {
					if err := tr.SaveCheckpoint(saveTo, nil); err != nil {
						t.Fatal(err)
					}
				}
				v, _ := params.Variable("w").Value()
				return tensors.MustCopyFlatData[float32](v)
			}
			ckpt := filepath.Join(t.TempDir(), "ckpt.safetensors")
			straight := run(6, "", "")
			run(3, "", ckpt)
			resumed := run(6, ckpt, "")
			for i := range straight {
				if straight[i] != resumed[i] {
					t.Fatalf("resumed after 3 of 6 steps: w = %v, without stopping %v", resumed, straight)
				}
			}
		})
	}
}

func TestBadOptimizerSettings(t *testing.T) {
	backend := golden.Backend(t)
	params := modeling.NewParams()
	params.Set("w", tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2))
	for _, tc := range []struct {
		opt  Optimizer
		want string
	}{
		{nil, "no optimizer"},
		{AdamW{}, "AdamW betas unset"},
		{AdamW{Beta1: 0.9, Beta2: 1.5}, "AdamW betas must be in [0, 1)"},
		{AdamW{Beta1: 0.9, Beta2: 0.99, WeightDecay: -1}, "AdamW WeightDecay must be a finite number >= 0"},
		{SGD{Nesterov: true}, "Nesterov momentum needs Momentum > 0"},
		{SGD{Momentum: -0.1}, "SGD Momentum must be"},
		{Lion{Beta1: -0.1, Beta2: 0.99}, "Lion betas must be in [0, 1)"},
		{Adafactor{Beta2Decay: 0.5, D: 1}, "Beta2Decay must be <= 0"},
		{Adafactor{Beta2Decay: -0.8}, "clipping threshold D must be >= 1"},
	} {
		_, err := NewTrainer(params, backend, nil, tc.opt, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%#v: got error %v, want one containing %q", tc.opt, err, tc.want)
		}
	}
	if _, err := NewTrainer(params, backend, nil, DefaultAdamW(), -1); err == nil || !strings.Contains(err.Error(), "clipping norm must be >= 0") {
		t.Errorf("clip -1: got error %v", err)
	}
}

func TestParseOptimizer(t *testing.T) {
	for _, name := range []string{"adamw", "SGD", "nesterov", "lion", "adafactor"} {
		opt, err := ParseOptimizer(name)
		if err != nil || opt == nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if v, ok := opt.(validator); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("%s's defaults do not validate: %v", name, err)
			}
		}
	}
	if _, err := ParseOptimizer("adam-ish"); err == nil || !strings.Contains(err.Error(), `unknown optimizer "adam-ish" (have adamw`) {
		t.Errorf("unknown optimizer: got error %v", err)
	}
}
