// Command shakespeare_char trains nanoGPT's character-level GPT on Tiny
// Shakespeare and reports the validation loss, as nanoGPT's
// config/train_shakespeare_char.py does with its CPU settings: 4 layers, 4
// heads, 128 wide, context 64, batch 12, 2,000 iterations, learning rate 1e-3
// with 100 warm-up steps and cosine decay to 1e-4 at 2,000, AdamW betas
// (0.9, 0.99) and weight decay 0.1, gradient clipping at 1, dropout 0, and
// the loss estimated over 20 batches every 250 iterations. nanoGPT reached a
// validation loss of 1.88 with these settings (1.8857 in 2 min 06 s here).
//
//	go run ./lab/shakespeare_char [-iters 2000] [-data FILE] [-backend SPEC] [-runs runs]
//
// It writes a run folder runs/shakespeare_char/<run-id>/ (see package lab)
// and ends by printing "final val_loss=X.XXXX" and a sample.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
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
}

func main() {
	c := Config{EvalInterval: 250, EvalIters: 20, BatchSize: 12, BlockSize: 64, NLayer: 4, NHead: 4, NEmbd: 128,
		LR: 1e-3, MinLR: 1e-4, WarmupIters: 100, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, SampleTokens: 300}
	flag.StringVar(&c.Data, "data", defaultData(), "training text (character level)")
	flag.IntVar(&c.Iters, "iters", 2000, "training iterations (the learning rate decays over the same number)")
	flag.IntVar(&c.EvalInterval, "eval-interval", c.EvalInterval, "iterations between loss estimates")
	flag.IntVar(&c.EvalIters, "eval-iters", c.EvalIters, "batches per loss estimate")
	flag.Uint64Var(&c.Seed, "seed", 1337, "seed for the weights and the batches")
	flag.StringVar(&c.Backend, "backend", "", "backend spec (default: xla.New's choice)")
	runs := flag.String("runs", "runs", "folder for run folders")
	flag.Parse()
	c.DecayIters = c.Iters
	if err := run(c, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "shakespeare_char:", err)
		os.Exit(1)
	}
}

// defaultData is ../shared/data/tinyshakespeare/input.txt beside the repository,
// or $TRUSTFORMERS_DATA's copy.
func defaultData() string {
	if d := os.Getenv("TRUSTFORMERS_DATA"); d != "" {
		return filepath.Join(d, "tinyshakespeare", "input.txt")
	}
	return filepath.Join("..", "shared", "data", "tinyshakespeare", "input.txt")
}

func run(c Config, runsDir string) error {
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
	r, err := lab.NewRun(runsDir, "shakespeare_char", c, c.Backend, c.Seed)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(os.Stderr, "shakespeare_char: %d characters, vocabulary %d, %s, run folder %s\n",
		len(data.Train)+len(data.Val), vocab.Size(), c.Backend, r.Dir)

	loss := func(g *Graph, batch []*Node) *Node {
		x, y := batch[0], batch[1]
		b, t := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
		positions := Iota(g, shapes.Make(dtypes.Int32, b, t), 1)
		logits, _, _ := m.ForwardGraph(x, positions, nil)
		return training.CrossEntropy(logits, y)
	}
	opt := training.AdamW{Beta1: c.Beta1, Beta2: c.Beta2, Epsilon: 1e-8, WeightDecay: c.WeightDecay}
	tr, err := training.NewTrainer(m.Params, backend, loss, opt, c.GradClip)
	if err != nil {
		return err
	}
	sched := training.Schedule{LR: c.LR, MinLR: c.MinLR, WarmupIters: c.WarmupIters, DecayIters: c.DecayIters}
	callbacks := []training.Callback{r, &lab.Progress{W: os.Stderr, Total: c.Iters}}
	report := func(m training.Metrics) {
		for _, cb := range callbacks {
			cb.OnMetrics(m)
		}
	}
	rng := rand.New(rand.NewPCG(c.Seed, 1))
	evalRNG := rand.New(rand.NewPCG(c.Seed, 2))
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
	start := time.Now()
	var valLoss float64
	for it := 0; it <= c.Iters; it++ {
		if it%c.EvalInterval == 0 || it == c.Iters {
			trainLoss, err := estimate("train")
			if err != nil {
				return err
			}
			if valLoss, err = estimate("val"); err != nil {
				return err
			}
			report(training.Metrics{Step: it, Split: "val", Loss: valLoss})
			r.OnMetrics(training.Metrics{Step: it, Split: "train-estimate", Loss: trainLoss})
		}
		if it == c.Iters {
			break
		}
		x, y, err := data.Batch(rng, "train", c.BatchSize, c.BlockSize)
		if err != nil {
			return err
		}
		lr := sched.At(it)
		t0 := time.Now()
		l, norm, err := tr.Step(lr, x, y)
		if err != nil {
			return err
		}
		report(training.Metrics{Step: it, Split: "train", Loss: l, LR: lr, GradNorm: norm,
			TokensPerSec: float64(c.BatchSize*c.BlockSize) / time.Since(t0).Seconds()})
	}
	elapsed := time.Since(start)
	ids, err := generate.Generate(m, []int32{vocabID(vocab, '\n')}, generate.Options{MaxNewTokens: min(c.SampleTokens, c.BlockSize-1),
		Temperature: 0.8, TopK: 200, Seed: c.Seed})
	if err != nil {
		return err
	}
	sample := vocab.Decode(ids)
	if err := r.AddSample(fmt.Sprintf("after %d iterations, temperature 0.8, top-k 200", c.Iters), sample); err != nil {
		return err
	}
	fmt.Printf("trained %d iterations in %s on %s (GOMAXPROCS %d)\n", c.Iters, elapsed.Round(time.Second), c.Backend, runtime.GOMAXPROCS(0))
	fmt.Printf("final val_loss=%.4f\n", valLoss)
	fmt.Printf("sample:\n%s\n", sample)
	return nil
}

func vocabID(v *training.CharVocab, r rune) int32 {
	ids, err := v.Encode(string(r))
	if err != nil || len(ids) == 0 {
		return 0
	}
	return ids[0]
}
