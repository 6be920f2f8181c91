// Package mixedprecision is the mixed_precision experiment: it measures what
// half-precision matrix products do to training speed and loss on the
// shakespeare_char model (nanoGPT's character GPT: 4 layers, 4 heads, 128
// wide, context 64, batch 12, AdamW, warm-up then cosine decay).
//
//	go run ./lab/mixed_precision [-iters 200] [-precisions float32,bfloat16] [-backend SPEC] [-runs runs]
//	trustformers train mixed_precision [the same flags]
//
// Each precision trains its own copy of the model from the same seed on the
// same batches, through training.Loop, with the trainer's precision set
// (Trainer.SetPrecision): every projection, the attention scores and their
// product with the values, and the tied head take their operands in the
// half precision and give float32 results — mixed precision as
// torch.autocast does it, with float32 master weights, norms, softmax, loss
// and AdamW update; float16 adds dynamic loss scaling. The network is the
// gpt2 family's own. An engine that cannot run a precision says so.
//
// Each precision writes its own run folder runs/mixed_precision/<run-id>/
// (compare them with `trustformers runs compare runs/mixed_precision`), and
// the experiment prints, per precision, the validation loss before and
// after training and the step time. docs/training.md records what it
// measured.
package mixedprecision

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/lab/shakespeare_char/shakespeare"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// Config is the experiment's settings; each precision's run folder gets
// them in config.json with its own Precision.
type Config struct {
	shakespeare.Model
	Precision string `json:"precision"`
	Iters     int    `json:"max_iters" flag:"iters" help:"training iterations per precision"`
	EvalIters int    `json:"eval_iters" flag:"eval-iters" help:"batches per validation loss"`
}

// Command is the experiment as lab.Main and `trustformers train` run it.
var Command = lab.Experiment{Name: "mixed_precision",
	Summary: "step time and loss of the Shakespeare model with float32 vs bfloat16/float16 matrix products", Run: Run}

// DefaultConfig returns the shakespeare_char model's settings for a
// 200-iteration run.
func DefaultConfig() Config {
	return Config{Model: shakespeare.DefaultModel(), Iters: 200, EvalIters: 20}
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
	c.Model.Check(s)
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

// Measure trains one copy of the model per precision, in turn, each
// through training.Loop in its own run folder under runsDir: the same
// weights, batches and evaluation batches for every precision.
func Measure(c Config, precisions []string, runsDir string, stderr io.Writer) ([]Result, error) {
	vocab, data, err := training.LoadCharDataset(c.Data)
	if err != nil {
		return nil, fmt.Errorf("%w (set -data, or run `make assets`)", err)
	}
	if err := c.CheckFits(data, vocab.Size()); err != nil {
		return nil, err
	}
	backend, err := c.Parallel.Backend(c.Backend)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	c.Backend = xla.SpecOf(backend)
	var results []Result
	for _, p := range precisions {
		dtype, err := training.ParsePrecision(p)
		if err != nil {
			return nil, err
		}
		m, err := gpt2.NewRandom(c.GPT2(vocab.Size()), c.Seed, backend)
		if err != nil {
			return nil, err
		}
		tr, err := training.NewTrainer(m.Params(), backend, training.CausalLMLoss(m.Decoder),
			training.AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}, 1)
		if err != nil {
			return nil, err
		}
		if err := tr.SetPrecision(dtype); err != nil {
			return nil, err
		}
		if err := c.Parallel.Shard(backend, tr); err != nil {
			return nil, err
		}
		cp := c
		cp.Precision = p
		r, err := lab.NewRun(runsDir, "mixed_precision", cp, c.Backend, c.Seed)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "mixed_precision: %s on %s, run folder %s\n", p, c.Backend, r.Dir)
		res := Result{Precision: p, Backend: c.Backend, Dir: r.Dir}
		var times []float64
		record := training.CallbackFunc(func(m training.Metrics) {
			switch m.Split {
			case "train":
				res.TrainLosses = append(res.TrainLosses, m.Loss)
				times = append(times, 1000*float64(c.BatchSize*c.BlockSize)/m.TokensPerSec)
			case "val":
				if m.Step == 0 {
					res.ValBefore = m.Loss
				}
				res.ValAfter = m.Loss
			}
		})
		loop := &training.Loop{
			Trainer:   tr,
			Iters:     c.Iters,
			Schedule:  training.Schedule{LR: c.LR, MinLR: c.MinLR, WarmupIters: c.WarmupIters, DecayIters: c.Iters},
			Batch:     data.Sampler("train", c.BatchSize, c.BlockSize),
			Evals:     []training.Eval{training.SampledEval("val", c.EvalIters, data.Sampler("val", c.BatchSize, c.BlockSize))},
			Seed:      c.Seed,
			Callbacks: []training.Callback{r, &lab.Progress{W: stderr, Total: c.Iters}, record},
		}
		_, err = loop.Run(false)
		if err == nil {
			err = r.WriteReport("mixed_precision " + p)
		}
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		res.FirstStep, res.MedianStep, res.MeanStep = stepTimes(times)
		results = append(results, res)
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
