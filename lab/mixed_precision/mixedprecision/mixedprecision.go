// Package mixedprecision is the mixed_precision experiment: it measures what
// half-precision matrix products do to training speed and loss on the
// shakespeare_char model (nanoGPT's character GPT: 4 layers, 4 heads, 128
// wide, context 64, batch 12, AdamW, warm-up then cosine decay).
//
//	go run ./lab/mixed_precision [-iters 200] [-precisions float32,bfloat16] [-backend SPEC] [-runs runs]
//	trustformers train mixed_precision [the same flags]
//
// Each precision trains its own copy of the model from the same seed on the
// same batches. "float32" is the gpt2 family's own forward. "bfloat16" and
// "float16" are a copy of that forward (the same weights, the same graph)
// whose matrix products — every projection, the attention scores and
// their product with the values, the tied head — take their operands in
// the half precision and give float32 results: mixed precision as
// torch.autocast does it, with float32 master weights, norms, softmax,
// loss and AdamW update. The copy exists because the family's network has
// no precision hook; at float32 it computes the family's losses (a test
// checks it, to 1e-6).
//
// The precisions are stepped in turn, one step each, so that a machine
// shared with other work slows them alike. Each writes its own run folder
// runs/mixed_precision/<run-id>/ (compare them with `trustformers runs
// compare runs/mixed_precision`), and the experiment prints, per precision,
// the validation loss before and after training and the step time.
// docs/training.md records what it measured.
package mixedprecision

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// Config is the experiment's settings; each precision's run folder gets
// them in config.json with its own Precision.
type Config struct {
	Data      string `json:"data" flag:"data" help:"training text (character level)"`
	Precision string `json:"precision"`
	Iters     int    `json:"max_iters" flag:"iters" help:"training iterations per precision"`
	EvalIters int    `json:"eval_iters" flag:"eval-iters" help:"batches per validation loss"`
	BatchSize int    `json:"batch_size" flag:"batch-size" help:"sequences per step"`
	BlockSize int    `json:"block_size" flag:"block-size" help:"context length, in characters"`
	NLayer    int    `json:"n_layer" flag:"n-layer" help:"transformer blocks"`
	NHead     int    `json:"n_head" flag:"n-head" help:"attention heads"`
	NEmbd     int    `json:"n_embd" flag:"n-embd" help:"embedding width"`
	// LR is the peak learning rate, reached after WarmupIters and decayed
	// to MinLR at Iters (nanoGPT's Shakespeare settings).
	LR          float64 `json:"learning_rate" flag:"lr" help:"peak learning rate"`
	MinLR       float64 `json:"min_lr" flag:"min-lr" help:"learning rate at the end of the cosine decay"`
	WarmupIters int     `json:"warmup_iters" flag:"warmup-iters" help:"iterations of linear warm-up"`
	Seed        uint64  `json:"seed" flag:"seed" help:"seed for the weights and the batches"`
	Backend     string  `json:"backend" flag:"backend" help:"backend spec (default: xla.New's choice)"`
}

// Precisions are the names -precisions accepts, with the dtype of the
// matrix products' operands.
var Precisions = map[string]dtypes.DType{"float32": dtypes.Float32, "bfloat16": dtypes.BFloat16, "float16": dtypes.Float16}

// Command is the experiment as lab.Main and `trustformers train` run it.
var Command = lab.Experiment{Name: "mixed_precision",
	Summary: "step time and loss of the Shakespeare model with float32 vs bfloat16/float16 matrix products", Run: Run}

// DefaultConfig returns the shakespeare_char model's settings for a
// 200-iteration run.
func DefaultConfig() Config {
	return Config{Data: lab.DataPath("tinyshakespeare/input.txt"), Iters: 200, EvalIters: 20, BatchSize: 12, BlockSize: 64, NLayer: 4, NHead: 4,
		NEmbd: 128, LR: 1e-3, MinLR: 1e-4, WarmupIters: 100, Seed: 1337}
}

// Run parses args as the experiment's flags and runs it, printing one line
// per precision to stdout and the progress to stderr.
func Run(args []string, stdout, stderr io.Writer) error {
	c := DefaultConfig()
	fs := flag.NewFlagSet("mixed_precision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lab.Flags(fs, &c)
	precisions := fs.String("precisions", "float32,bfloat16", "comma-separated precisions of the matrix products: float32, bfloat16, float16")
	runs := fs.String("runs", "runs", "folder for run folders")
	if err := lab.ParseFlags(fs, args); err != nil {
		return err
	}
	s := lab.CheckSettings("flags")
	s.AtLeast("iters", c.Iters, 1)
	s.AtLeast("eval-iters", c.EvalIters, 1)
	s.AtLeast("batch-size", c.BatchSize, 1)
	s.AtLeast("block-size", c.BlockSize, 1)
	s.AtLeast("n-layer", c.NLayer, 1)
	s.AtLeast("n-head", c.NHead, 1)
	s.AtLeast("n-embd", c.NEmbd, 1)
	s.NonNegative("lr", c.LR)
	if err := s.Err(); err != nil {
		return err
	}
	results, err := Measure(c, strings.Split(*precisions, ","), *runs, stderr)
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(stdout, "%-8s on %s: val_loss %.4f -> %.4f after %d iterations; step %.1f ms (median of steps 5 on, mean %.1f; first %.0f ms)\n",
			r.Precision, r.Backend, r.ValBefore, r.ValAfter, c.Iters, r.MedianStep, r.MeanStep, r.FirstStep)
	}
	return nil
}

// Result is what one precision measured, in milliseconds and nats.
type Result struct {
	Precision, Backend, Dir string
	// ValBefore and ValAfter are the validation losses before the first
	// and after the last iteration (the same EvalIters batches).
	ValBefore, ValAfter float64
	// FirstStep is the first step's time (it compiles the graph);
	// MedianStep and MeanStep are over the steps from the sixth on.
	FirstStep, MedianStep, MeanStep float64
	// TrainLosses are the training losses, one per step.
	TrainLosses []float64
}

// arm is one precision's model, trainer and run folder.
type arm struct {
	res          Result
	tr           *training.Trainer
	run          *lab.Run
	rng, evalRNG *rand.Rand
	times        []float64
}

// Measure trains one copy of the model per precision, stepping them in
// turn, each in its own run folder under runsDir.
func Measure(c Config, precisions []string, runsDir string, stderr io.Writer) ([]Result, error) {
	vocab, data, err := training.LoadCharDataset(c.Data)
	if err != nil {
		return nil, fmt.Errorf("%w (set -data, or run `make assets`)", err)
	}
	backend, err := xla.New(c.Backend)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	c.Backend = xla.SpecOf(backend)
	var arms []*arm
	defer func() {
		for _, a := range arms {
			a.run.Close()
		}
	}()
	for _, p := range precisions {
		dtype, ok := Precisions[p]
		if !ok {
			return nil, fmt.Errorf("precision %q: want float32, bfloat16 or float16", p)
		}
		m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: vocab.Size(), NPositions: c.BlockSize, NEmbd: c.NEmbd,
			NLayer: c.NLayer, NHead: c.NHead}, c.Seed, backend)
		if err != nil {
			return nil, err
		}
		tr, err := training.NewTrainer(m.Params(), backend, lossFunc(m, dtype),
			training.AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}, 1)
		if err != nil {
			return nil, err
		}
		cp := c
		cp.Precision = p
		r, err := lab.NewRun(runsDir, "mixed_precision", cp, c.Backend, c.Seed)
		if err != nil {
			return nil, err
		}
		arms = append(arms, &arm{res: Result{Precision: p, Backend: c.Backend, Dir: r.Dir}, tr: tr, run: r,
			rng: rand.New(rand.NewPCG(c.Seed, 1)), evalRNG: rand.New(rand.NewPCG(c.Seed, 2))})
		fmt.Fprintf(stderr, "mixed_precision: %s on %s, run folder %s\n", p, c.Backend, r.Dir)
	}
	estimate := func(a *arm, step int) (float64, error) {
		total := 0.0
		for range c.EvalIters {
			x, y, err := data.Batch(a.evalRNG, "val", c.BatchSize, c.BlockSize)
			if err != nil {
				return 0, err
			}
			l, err := a.tr.Eval(x, y)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", a.res.Precision, err)
			}
			total += l
		}
		l := total / float64(c.EvalIters)
		a.run.OnMetrics(training.Metrics{Step: step, Split: "val", Loss: l})
		return l, nil
	}
	for _, a := range arms {
		if a.res.ValBefore, err = estimate(a, 0); err != nil {
			return nil, err
		}
	}
	sched := training.Schedule{LR: c.LR, MinLR: c.MinLR, WarmupIters: c.WarmupIters, DecayIters: c.Iters}
	progress := &lab.Progress{W: stderr, Total: c.Iters}
	for it := range c.Iters {
		for i, a := range arms {
			x, y, err := data.Batch(a.rng, "train", c.BatchSize, c.BlockSize)
			if err != nil {
				return nil, err
			}
			lr := sched.At(it)
			t0 := time.Now()
			l, norm, err := a.tr.Step(lr, x, y)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a.res.Precision, err)
			}
			d := time.Since(t0)
			a.times = append(a.times, float64(d.Microseconds())/1000)
			a.res.TrainLosses = append(a.res.TrainLosses, l)
			m := training.Metrics{Step: it, Split: "train", Loss: l, LR: lr, GradNorm: norm,
				TokensPerSec: float64(c.BatchSize*c.BlockSize) / d.Seconds()}
			a.run.OnMetrics(m)
			if i == 0 {
				progress.OnMetrics(m)
			}
		}
	}
	var results []Result
	for _, a := range arms {
		if a.res.ValAfter, err = estimate(a, c.Iters); err != nil {
			return nil, err
		}
		a.res.FirstStep, a.res.MedianStep, a.res.MeanStep = stepTimes(a.times)
		if err := a.run.WriteReport("mixed_precision " + a.res.Precision); err != nil {
			return nil, err
		}
		results = append(results, a.res)
	}
	return results, nil
}

// stepTimes returns the first time, and the median and mean of the times
// from the sixth on (all of them when there are fewer).
func stepTimes(times []float64) (first, median, mean float64) {
	if len(times) == 0 {
		return 0, 0, 0
	}
	first = times[0]
	steady := times
	if len(times) > 5 {
		steady = times[5:]
	}
	steady = append([]float64(nil), steady...)
	sort.Float64s(steady)
	for _, t := range steady {
		mean += t
	}
	return first, steady[len(steady)/2], mean / float64(len(steady))
}

// lossFunc is the mean cross-entropy of m on a batch (inputs, targets):
// through the family's own forward for float32, else through forward with
// matrix products in dtype.
func lossFunc(m *gpt2.Model, dtype dtypes.DType) training.LossFunc {
	return func(g *Graph, batch []*Node) *Node {
		x, y := batch[0], batch[1]
		if dtype == dtypes.Float32 {
			b, t := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
			logits, _, _ := m.ForwardGraph(x, Iota(g, shapes.Make(dtypes.Int32, b, t), 1), nil)
			return training.CrossEntropy(logits, y)
		}
		return training.CrossEntropy(forward(m, x, dtype), y)
	}
}

// forward is models/gpt2's network (GPT2LMHeadModel.forward, causal, no
// padding) with every matrix product's operands converted to dtype and its
// result back to float32.
func forward(m *gpt2.Model, ids *Node, dtype dtypes.DType) *Node {
	g := ids.Graph()
	c := m.Config
	p := func(format string, args ...any) *Node { return m.Params().Node(g, fmt.Sprintf(format, args...)) }
	matmul := func(equation string, a, b *Node) *Node {
		if dtype == dtypes.Float32 {
			return Einsum(equation, a, b)
		}
		return ConvertDType(Einsum(equation, ConvertDType(a, dtype), ConvertDType(b, dtype)), dtypes.Float32)
	}
	linear := func(x, weight, bias *Node) *Node { // modeling.Linear
		dims := x.Shape().Dimensions
		y := matmul("ni,oi->no", Reshape(x, -1, dims[len(dims)-1]), weight)
		y = Add(y, modeling.Like(bias, y))
		return Reshape(y, append(append([]int(nil), dims[:len(dims)-1]...), weight.Shape().Dimensions[0])...)
	}
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	allowed := modeling.AllowedKeys(Iota(g, shapes.Make(dtypes.Int32, t), 0), t, nil, true, 0)
	mask := Where(allowed, ScalarZero(g, dtypes.Float32), Scalar(g, dtypes.Float32, -math.MaxFloat32))
	act := modeling.Activation(c.ActivationFunction)
	hd := c.HeadDim()
	x := Add(modeling.Embed(p("wte.weight"), ids), modeling.Embed(p("wpe.weight"), Iota(g, shapes.Make(dtypes.Int32, b, t), 1)))
	for i := range c.NLayer {
		h := modeling.LayerNorm(x, p("h.%d.ln_1.weight", i), p("h.%d.ln_1.bias", i), c.LayerNormEpsilon)
		qkv := Split(linear(h, p("h.%d.attn.c_attn.weight", i), p("h.%d.attn.c_attn.bias", i)), -1, 3)
		q := modeling.SplitHeads(qkv[0], c.NHead, hd)
		k := modeling.SplitHeads(qkv[1], c.NHead, hd)
		v := modeling.SplitHeads(qkv[2], c.NHead, hd)
		probs := Softmax(Add(MulScalar(matmul("bhqd,bhkd->bhqk", q, k), 1/math.Sqrt(float64(hd))), mask), -1)
		out := modeling.MergeHeads(matmul("bhqk,bhkd->bhqd", probs, v))
		x = Add(x, linear(out, p("h.%d.attn.c_proj.weight", i), p("h.%d.attn.c_proj.bias", i)))
		h = modeling.LayerNorm(x, p("h.%d.ln_2.weight", i), p("h.%d.ln_2.bias", i), c.LayerNormEpsilon)
		h = act(linear(h, p("h.%d.mlp.c_fc.weight", i), p("h.%d.mlp.c_fc.bias", i)))
		x = Add(x, linear(h, p("h.%d.mlp.c_proj.weight", i), p("h.%d.mlp.c_proj.bias", i)))
	}
	x = modeling.LayerNorm(x, p("ln_f.weight"), p("ln_f.bias"), c.LayerNormEpsilon)
	return matmul("btd,vd->btv", x, p("wte.weight")) // the head is tied to wte
}
