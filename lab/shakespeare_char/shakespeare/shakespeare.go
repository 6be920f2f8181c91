// Package shakespeare is the shakespeare_char experiment: nanoGPT's
// character-level GPT trained on Tiny Shakespeare, as nanoGPT's
// config/train_shakespeare_char.py does with its CPU settings: 4 layers, 4
// heads, 128 wide, context 64, batch 12, 2,000 iterations, learning rate 1e-3
// with 100 warm-up steps and cosine decay to 1e-4 at 2,000, AdamW betas
// (0.9, 0.99) and weight decay 0.1, gradient clipping at 1, dropout 0, and
// the loss estimated over 20 batches every 250 iterations. nanoGPT reached a
// validation loss of 1.88 with these settings (docs/training.md compares the
// two).
//
//	go run ./lab/shakespeare_char [-iters 2000] [-data FILE] [-backend SPEC] [-runs runs]
//	trustformers train shakespeare_char [the same flags]
//
// It writes a run folder runs/shakespeare_char/<run-id>/ (see package lab)
// with a checkpoint at every evaluation and the final weights as a Hugging
// Face folder (model/), and ends by printing "final val_loss=X.XXXX" and a
// sample. -resume DIR continues a run folder from its checkpoint, with
// exactly the losses the uninterrupted run would have had; -patience N stops
// after N evaluations without a better validation loss, and its count
// survives -stop-after and -resume.
package shakespeare

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// Config is the experiment's settings, written to the run's config.json.
type Config struct {
	Data         string  `json:"data"`
	Iters        int     `json:"max_iters"`
	EvalInterval int     `json:"eval_interval"`
	EvalIters    int     `json:"eval_iters"`
	BatchSize    int     `json:"batch_size"`
	BlockSize    int     `json:"block_size"`
	NLayer       int     `json:"n_layer"`
	NHead        int     `json:"n_head"`
	NEmbd        int     `json:"n_embd"`
	LR           float64 `json:"learning_rate"`
	MinLR        float64 `json:"min_lr"`
	WarmupIters  int     `json:"warmup_iters"`
	DecayIters   int     `json:"lr_decay_iters"`
	Beta1        float64 `json:"beta1"`
	Beta2        float64 `json:"beta2"`
	WeightDecay  float64 `json:"weight_decay"`
	GradClip     float64 `json:"grad_clip"`
	Seed         uint64  `json:"seed"`
	Backend      string  `json:"backend"`
	SampleTokens int     `json:"sample_tokens"`
	// StopAfter ends the process after this many iterations with a
	// checkpoint (0: run to the end); -resume continues from there.
	StopAfter int `json:"-"`
	// Patience stops training after that many evaluations without a better
	// validation loss (0: never).
	Patience int `json:"patience,omitempty"`
	// Accumulate splits each step's batch into that many micro-batches
	// whose gradients are summed (gradient accumulation); 1: none.
	Accumulate int `json:"gradient_accumulation_steps,omitempty"`
}

// Command is the experiment as lab.Main and `trustformers train` run it.
var Command = lab.Experiment{Name: "shakespeare_char",
	Summary: "nanoGPT's character-level GPT on Tiny Shakespeare (val loss ~1.88 after 2,000 iterations)", Run: Run}

// DefaultConfig returns nanoGPT's CPU settings for Tiny Shakespeare, with
// the data at its default place.
func DefaultConfig() Config {
	return Config{Data: defaultData(), Iters: 2000, EvalInterval: 250, EvalIters: 20, BatchSize: 12, BlockSize: 64,
		NLayer: 4, NHead: 4, NEmbd: 128, LR: 1e-3, MinLR: 1e-4, WarmupIters: 100, DecayIters: 2000, Beta1: 0.9,
		Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, Seed: 1337, SampleTokens: 300, Accumulate: 1}
}

// Run parses args as the experiment's flags and runs it (or, with -resume,
// continues a run folder), printing the result to stdout and the progress
// to stderr. Flags that do not parse, or -h, give a *lab.FlagError.
func Run(args []string, stdout, stderr io.Writer) error {
	c := DefaultConfig()
	fs := flag.NewFlagSet("shakespeare_char", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Data, "data", c.Data, "training text (character level)")
	fs.IntVar(&c.Iters, "iters", c.Iters, "training iterations (the learning rate decays over the same number)")
	fs.IntVar(&c.EvalInterval, "eval-interval", c.EvalInterval, "iterations between loss estimates")
	fs.IntVar(&c.EvalIters, "eval-iters", c.EvalIters, "batches per loss estimate")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed for the weights and the batches")
	fs.StringVar(&c.Backend, "backend", "", "backend spec (default: xla.New's choice)")
	runs := fs.String("runs", "runs", "folder for run folders")
	resume := fs.String("resume", "", "run folder to continue from its last checkpoint (its config.json wins over flags)")
	fs.IntVar(&c.StopAfter, "stop-after", 0, "stop after this many iterations, leaving a checkpoint to -resume from")
	fs.IntVar(&c.Patience, "patience", 0, "stop after this many evaluations without a better validation loss (0: never)")
	fs.IntVar(&c.Accumulate, "accumulate", 1, "gradient accumulation steps: micro-batches of batch_size summed into one step")
	if err := lab.ParseFlags(fs, args); err != nil {
		return err
	}
	c.DecayIters = c.Iters
	if *resume != "" {
		return Resume(*resume, stdout, stderr)
	}
	if err := c.check("flags"); err != nil {
		return err
	}
	return Train(c, *runs, stdout, stderr)
}

// check returns an error naming the first setting that cannot run; where
// names where the settings came from (flags, or a resumed run's config.json).
func (c Config) check(where string) error {
	s := lab.CheckSettings(where)
	s.AtLeast("iters", c.Iters, 0)
	s.AtLeast("eval-interval", c.EvalInterval, 1)
	s.AtLeast("eval-iters", c.EvalIters, 1)
	s.AtLeast("batch_size", c.BatchSize, 1)
	s.AtLeast("block_size", c.BlockSize, 1)
	s.AtLeast("stop-after", c.StopAfter, 0)
	s.AtLeast("patience", c.Patience, 0)
	s.AtLeast("accumulate", c.Accumulate, 1)
	s.AtLeast("sample_tokens", c.SampleTokens, 0)
	s.NonNegative("learning_rate", c.LR)
	s.NonNegative("min_lr", c.MinLR)
	s.NonNegative("weight_decay", c.WeightDecay)
	s.NonNegative("grad_clip", c.GradClip)
	return s.Err()
}

// defaultData is ../shared/data/tinyshakespeare/input.txt beside the repository,
// or $TRUSTFORMERS_DATA's copy.
func defaultData() string {
	if d := os.Getenv("TRUSTFORMERS_DATA"); d != "" {
		return filepath.Join(d, "tinyshakespeare", "input.txt")
	}
	return filepath.Join("..", "shared", "data", "tinyshakespeare", "input.txt")
}

// Train runs the experiment with settings c in a new run folder under
// runsDir.
func Train(c Config, runsDir string, stdout, stderr io.Writer) error {
	return train(c, runsDir, "", stdout, stderr)
}

// Resume continues the run folder dir from its checkpoint, with the
// settings of its config.json.
func Resume(dir string, stdout, stderr io.Writer) error {
	var c Config
	r, err := lab.OpenRun(dir, &c)
	if err != nil {
		return err
	}
	r.Close()
	if c.Accumulate == 0 {
		c.Accumulate = 1 // a run folder from before gradient accumulation
	}
	if err := c.check(filepath.Join(dir, "config.json")); err != nil {
		return err
	}
	return train(c, "", dir, stdout, stderr)
}

// train runs the experiment in a new run folder under runsDir, or continues
// the run folder resumeDir from its checkpoint.
func train(c Config, runsDir, resumeDir string, stdout, stderr io.Writer) error {
	vocab, data, err := training.LoadCharDataset(c.Data)
	if err != nil {
		return fmt.Errorf("%w (set -data, or run `make assets`)", err)
	}
	backend, err := xla.New(c.Backend)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	c.Backend = xla.SpecOf(backend)
	cfg := &gpt2.Config{VocabSize: vocab.Size(), NPositions: c.BlockSize, NEmbd: c.NEmbd, NLayer: c.NLayer, NHead: c.NHead}
	m, err := gpt2.NewRandom(cfg, c.Seed, backend)
	if err != nil {
		return err
	}
	var r *lab.Run
	if resumeDir == "" {
		r, err = lab.NewRun(runsDir, "shakespeare_char", c, c.Backend, c.Seed)
	} else {
		r, err = lab.OpenRun(resumeDir, &Config{})
	}
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(stderr, "shakespeare_char: %d characters, vocabulary %d, %s, run folder %s\n",
		data.Train.Len()+data.Val.Len(), vocab.Size(), c.Backend, r.Dir)

	loss := func(g *Graph, batch []*Node) *Node {
		x, y := batch[0], batch[1]
		b, t := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
		positions := Iota(g, shapes.Make(dtypes.Int32, b, t), 1)
		logits, _, _ := m.ForwardGraph(x, positions, nil)
		return training.CrossEntropy(logits, y)
	}
	opt := training.AdamW{Beta1: c.Beta1, Beta2: c.Beta2, Epsilon: 1e-8, WeightDecay: c.WeightDecay}
	tr, err := training.NewTrainer(m.Params(), backend, loss, opt, c.GradClip)
	if err != nil {
		return err
	}
	sched := training.Schedule{LR: c.LR, MinLR: c.MinLR, WarmupIters: c.WarmupIters, DecayIters: c.DecayIters}
	callbacks := []training.Callback{r, &lab.Progress{W: stderr, Total: c.Iters}}
	report := func(m training.Metrics) {
		for _, cb := range callbacks {
			cb.OnMetrics(m)
		}
	}
	trainPCG, evalPCG := rand.NewPCG(c.Seed, 1), rand.NewPCG(c.Seed, 2)
	rng, evalRNG := rand.New(trainPCG), rand.New(evalPCG)
	early := &training.EarlyStopping{Patience: c.Patience}
	tr.EarlyStopping = early // saved with every checkpoint, restored on resume
	start := 0
	if resumeDir != "" {
		extra, err := tr.LoadCheckpoint(r.Checkpoint())
		if err != nil {
			return err
		}
		for key, pcg := range map[string]*rand.PCG{"train_rng": trainPCG, "eval_rng": evalPCG} {
			if err := restoreRNG(extra[key], pcg); err != nil {
				return fmt.Errorf("%s: %s: %w (resume from a run folder's checkpoint; best.safetensors keeps no data position)", r.Checkpoint(), key, err)
			}
		}
		start = tr.Steps()
		if start > c.Iters {
			return fmt.Errorf("%s: checkpoint at step %d is past the run's %d iterations", r.Checkpoint(), start, c.Iters)
		}
		fmt.Fprintf(stderr, "shakespeare_char: resuming %s at iteration %d\n", r.Dir, start)
	}
	checkpoint := func() error {
		return tr.SaveCheckpoint(r.Checkpoint(), map[string]string{"train_rng": rngState(trainPCG), "eval_rng": rngState(evalPCG)})
	}
	estimate := func(split string) (float64, error) {
		total := 0.0
		for range c.EvalIters {
			x, y, err := data.Batch(evalRNG, split, c.BatchSize, c.BlockSize)
			if err != nil {
				return 0, err
			}
			l, err := tr.Eval(x, y)
			if err != nil {
				return 0, err
			}
			total += l
		}
		return total / float64(c.EvalIters), nil
	}
	began := time.Now()
	var valLoss float64
	it := start
	for ; it <= c.Iters; it++ {
		if (it%c.EvalInterval == 0 || it == c.Iters) && !(resumeDir != "" && it == start) {
			trainLoss, err := estimate("train")
			if err != nil {
				return err
			}
			if valLoss, err = estimate("val"); err != nil {
				return err
			}
			report(training.Metrics{Step: it, Split: "val", Loss: valLoss})
			r.OnMetrics(training.Metrics{Step: it, Split: "train-estimate", Loss: trainLoss})
			improved, stop := early.Observe(valLoss)
			if err := checkpoint(); err != nil { // after Observe: a resumed run skips this evaluation
				return err
			}
			if improved {
				if err := tr.SaveCheckpoint(filepath.Join(r.Dir, "checkpoints", "best.safetensors"),
					map[string]string{"val_loss": fmt.Sprint(valLoss)}); err != nil {
					return err
				}
			}
			if stop {
				fmt.Fprintf(stderr, "shakespeare_char: no better validation loss in %d evaluations; stopping at %d\n", c.Patience, it)
				break
			}
		}
		if it == c.Iters {
			break
		}
		if c.StopAfter > 0 && it == c.StopAfter {
			if err := checkpoint(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "stopped after %d iterations; continue with -resume %s\n", it, r.Dir)
			return nil
		}
		micro := make([][]*tensors.Tensor, max(c.Accumulate, 1))
		for i := range micro {
			x, y, err := data.Batch(rng, "train", c.BatchSize, c.BlockSize)
			if err != nil {
				return err
			}
			micro[i] = []*tensors.Tensor{x, y}
		}
		lr := sched.At(it)
		t0 := time.Now()
		l, norm, err := tr.StepAccumulated(lr, micro)
		if err != nil {
			return err
		}
		report(training.Metrics{Step: it, Split: "train", Loss: l, LR: lr, GradNorm: norm,
			TokensPerSec: float64(len(micro)*c.BatchSize*c.BlockSize) / time.Since(t0).Seconds()})
	}
	elapsed := time.Since(began)
	if err := m.Save(filepath.Join(r.Dir, "model")); err != nil {
		return err
	}
	if err := r.WriteReport("shakespeare_char"); err != nil {
		return err
	}
	ids, err := generate.Generate(m, []int32{vocabID(vocab, '\n')}, generate.Options{MaxNewTokens: c.SampleTokens,
		Temperature: 0.8, TopK: 200, Seed: c.Seed, CropContext: true})
	if err != nil {
		return err
	}
	sample := vocab.Decode(ids)
	if err := r.AddSample(fmt.Sprintf("after %d iterations, temperature 0.8, top-k 200", it), sample); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained %d iterations in %s on %s (GOMAXPROCS %d)\n", it, elapsed.Round(time.Second), c.Backend, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "final val_loss=%.4f\n", valLoss)
	fmt.Fprintf(stdout, "sample:\n%s\n", sample)
	return nil
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

func vocabID(v *training.CharVocab, r rune) int32 {
	ids, err := v.Encode(string(r))
	if err != nil || len(ids) == 0 {
		return 0
	}
	return ids[0]
}
