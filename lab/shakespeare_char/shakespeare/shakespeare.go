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
// Face folder (model/, with the character vocabulary as its tokenizer.json,
// so that `trustformers generate --model RUN/model --prompt "ROMEO:"` and
// transformers both write text), and ends by printing "final val_loss=X.XXXX" and a
// sample. -resume DIR continues a run folder from its checkpoint, with
// exactly the losses the uninterrupted run would have had; -patience N stops
// after N evaluations without a better validation loss, and its count
// survives -stop-after and -resume.
//
// Under mpirun it trains data parallel across the processes (each on its
// share of every batch, gradients summed through MPI; batch-size must
// divide by their number), with the losses of one process; rank 0 writes
// the run folder, and a run resumes on any number of processes:
//
//	go build -o shakespeare_char ./lab/shakespeare_char
//	mpirun --oversubscribe -np 2 ./shakespeare_char -iters 200
package shakespeare

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/training/mpi"
	"github.com/trustformers/trustformers-go/xla"
)

// Model is the character GPT, its data and its learning-rate schedule: the
// settings shared by the experiments that train it (this one and
// mixed_precision), embedded in their Configs.
type Model struct {
	Data        string  `json:"data" flag:"data" help:"training text (character level)"`
	BatchSize   int     `json:"batch_size" flag:"batch-size" help:"sequences per batch (per micro-batch with gradient accumulation)"`
	BlockSize   int     `json:"block_size" flag:"block-size" help:"context length, in characters"`
	NLayer      int     `json:"n_layer" flag:"n-layer" help:"transformer blocks"`
	NHead       int     `json:"n_head" flag:"n-head" help:"attention heads"`
	NEmbd       int     `json:"n_embd" flag:"n-embd" help:"embedding width"`
	LR          float64 `json:"learning_rate" flag:"lr" help:"peak learning rate"`
	MinLR       float64 `json:"min_lr" flag:"min-lr" help:"learning rate at the end of the cosine decay"`
	WarmupIters int     `json:"warmup_iters" flag:"warmup-iters" help:"iterations of linear warm-up"`
	Seed        uint64  `json:"seed" flag:"seed" help:"seed for the weights, the batches and dropout"`
	Backend     string  `json:"backend" flag:"backend" help:"backend spec (default: xla.New's choice)"`
	lab.Parallel
}

// DefaultModel returns nanoGPT's CPU settings for Tiny Shakespeare: 4
// layers, 4 heads, 128 wide, context 64, batch 12, learning rate 1e-3 after
// 100 warm-up iterations decaying to 1e-4, seed 1337, the data at its
// default place.
func DefaultModel() Model {
	return Model{Data: lab.DataPath("tinyshakespeare/input.txt"), BatchSize: 12, BlockSize: 64, NLayer: 4, NHead: 4,
		NEmbd: 128, LR: 1e-3, MinLR: 1e-4, WarmupIters: 100, Seed: 1337}
}

// Check adds m's problems to s.
func (m Model) Check(s *lab.Settings) {
	s.AtLeast("batch-size", m.BatchSize, 1)
	s.AtLeast("block-size", m.BlockSize, 1)
	s.AtLeast("n-layer", m.NLayer, 1)
	s.AtLeast("n-head", m.NHead, 1)
	s.AtLeast("n-embd", m.NEmbd, 1)
	s.NonNegative("lr", m.LR)
	s.NonNegative("min-lr", m.MinLR)
	s.Layout(m.Parallel, m.BatchSize)
}

// CheckFits returns an error, before anything is built, when the data is
// too short for the context or a training step would need more memory than
// this process may take (xla.MemoryLeft): the estimate of StepBytes, in the
// message, where such a run would otherwise die for lack of memory.
func (m Model) CheckFits(data *training.Dataset, vocab int) error {
	for _, split := range []string{"train", "val"} {
		if err := data.CheckWindows(split, m.BlockSize); err != nil {
			return fmt.Errorf("%s: %w (lower -block-size)", m.Data, err)
		}
	}
	weights, activations := m.StepBytes(vocab)
	if have := xla.MemoryLeft(); have > 0 && weights+activations > have {
		return fmt.Errorf("a training step of this model (batch %d, context %d, %d layers %d wide, %d heads) needs about %.1f GB "+
			"(weights, gradients and AdamW's moments %.1f GB, activations %.1f GB); this process may take %.1f GB more "+
			"(lower -batch-size, -block-size, -n-embd or -n-layer)",
			m.BatchSize, m.BlockSize, m.NLayer, m.NEmbd, m.NHead, (weights+activations)/1e9, weights/1e9, activations/1e9, have/1e9)
	}
	return nil
}

// StepBytes estimates the host memory of one training step for a
// vocabulary of vocab characters: the weights with their gradients and
// AdamW's two moments (four float32 copies), and the activations the step
// keeps for its backward pass — per block about 16 floats per token and
// width and 3 per attention score, and 3 per token and vocabulary entry
// for the logits. A lower bound: compiled programs add their own buffers.
func (m Model) StepBytes(vocab int) (weights, activations float64) {
	b, t, e, l, h, v := float64(m.BatchSize), float64(m.BlockSize), float64(m.NEmbd), float64(m.NLayer), float64(m.NHead), float64(vocab)
	params := v*e + t*e + l*(12*e*e+13*e) + 2*e
	return 4 * 4 * params, 4 * (l*(16*b*t*e+3*b*h*t*t) + 3*b*t*v)
}

// GPT2 returns the gpt2 family's config of the model for a vocabulary of
// vocab characters, with no dropout.
func (m Model) GPT2(vocab int) *gpt2.Config {
	return &gpt2.Config{VocabSize: vocab, NPositions: m.BlockSize, NEmbd: m.NEmbd, NLayer: m.NLayer, NHead: m.NHead}
}

// Config is the experiment's settings, written to the run's config.json.
type Config struct {
	Model
	Iters        int     `json:"max_iters" flag:"iters" help:"training iterations (the learning rate decays over the same number)"`
	EvalInterval int     `json:"eval_interval" flag:"eval-interval" help:"iterations between loss estimates"`
	EvalIters    int     `json:"eval_iters" flag:"eval-iters" help:"batches per loss estimate"`
	DecayIters   int     `json:"lr_decay_iters"`
	Beta1        float64 `json:"beta1" flag:"beta1" help:"AdamW beta1"`
	Beta2        float64 `json:"beta2" flag:"beta2" help:"AdamW beta2"`
	WeightDecay  float64 `json:"weight_decay" flag:"weight-decay" help:"AdamW decoupled weight decay (weights of 2+ dimensions)"`
	GradClip     float64 `json:"grad_clip" flag:"grad-clip" help:"global gradient-norm clip (0: none)"`
	// Dropout is nanoGPT's dropout: on the embeddings, the attention
	// probabilities and each block's two residual branches, in training
	// steps only (0 in nanoGPT's CPU settings, 0.2 in its GPU ones).
	Dropout float64 `json:"dropout,omitempty" flag:"dropout" help:"dropout rate in training steps (nanoGPT's GPU settings use 0.2)"`
	// Precision is the dtype of the matrix products (Trainer.SetPrecision):
	// float32, bfloat16 or float16 (with dynamic loss scaling).
	Precision string `json:"precision,omitempty" flag:"precision" help:"matrix products in float32, bfloat16 or float16 (mixed precision; float32 weights)"`
	// GradCheckpoint recomputes each block's activations in the backward
	// pass (Trainer.SetGradientCheckpointing).
	GradCheckpoint bool `json:"gradient_checkpointing,omitempty" flag:"grad-checkpoint" help:"gradient checkpointing: recompute each block's activations in the backward pass"`
	// Optimizer is "adamw" (with Beta1, Beta2 and WeightDecay; the default)
	// or another of training.ParseOptimizer's names, with its defaults.
	Optimizer    string `json:"optimizer,omitempty" flag:"optimizer" help:"adamw (with -beta1, -beta2, -weight-decay), sgd, nesterov, lion or adafactor"`
	SampleTokens int    `json:"sample_tokens" flag:"sample-tokens" help:"characters of the sample generated at the end"`
	// StopAfter ends the process after this many iterations with a
	// checkpoint (0: run to the end); -resume continues from there.
	StopAfter int `json:"-" flag:"stop-after" help:"stop after this many iterations, leaving a checkpoint to -resume from"`
	// Patience stops training after that many evaluations without a better
	// validation loss (0: never).
	Patience int `json:"patience,omitempty" flag:"patience" help:"stop after this many evaluations without a better validation loss (0: never)"`
	// Accumulate splits each step's batch into that many micro-batches
	// whose gradients are summed (gradient accumulation); 1: none.
	Accumulate int `json:"gradient_accumulation_steps,omitempty" flag:"accumulate" help:"gradient accumulation steps: micro-batches of batch-size summed into one step"`
	// Processes is the number of processes the run started with (mpirun
	// -np; 1 alone), each training on its share of every batch. A run
	// resumes on any number that divides batch-size: the losses are the
	// same.
	Processes int `json:"processes,omitempty"`
}

// Command is the experiment as lab.Main and `trustformers train` run it.
var Command = lab.Experiment{Name: "shakespeare_char",
	Summary: "nanoGPT's character-level GPT on Tiny Shakespeare (val loss ~1.88 after 2,000 iterations)", Run: Run}

// DefaultConfig returns nanoGPT's CPU settings for Tiny Shakespeare, with
// the data at its default place.
func DefaultConfig() Config {
	return Config{Model: DefaultModel(), Iters: 2000, EvalInterval: 250, EvalIters: 20, DecayIters: 2000, Beta1: 0.9,
		Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, SampleTokens: 300, Accumulate: 1}
}

// Run parses args as the experiment's flags and runs it (or, with -resume,
// continues a run folder), printing the result to stdout and the progress
// to stderr. Flags that do not parse, or -h, give a *lab.FlagError.
func Run(args []string, stdout, stderr io.Writer) error {
	c := DefaultConfig()
	fs := flag.NewFlagSet("shakespeare_char", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lab.Flags(fs, &c)
	runs := fs.String("runs", "runs", "folder for run folders")
	resume := fs.String("resume", "", "run folder to continue from its last checkpoint (its config.json wins over flags)")
	if err := lab.ParseFlags(fs, args); err != nil {
		return err
	}
	c.DecayIters = c.Iters
	if *resume != "" {
		return resumeRun(*resume, layoutFlags(fs, c.Model), stdout, stderr)
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
	c.Model.Check(s)
	s.AtLeast("stop-after", c.StopAfter, 0)
	s.AtLeast("patience", c.Patience, 0)
	s.AtLeast("accumulate", c.Accumulate, 1)
	s.AtLeast("sample-tokens", c.SampleTokens, 0)
	s.NonNegative("weight-decay", c.WeightDecay)
	s.NonNegative("grad-clip", c.GradClip)
	s.Within("beta1", c.Beta1, 0, 0.999999)
	s.Within("beta2", c.Beta2, 0, 0.999999)
	s.Within("dropout", c.Dropout, 0, 0.99)
	if err := s.Err(); err != nil {
		return err
	}
	if c.Precision != "" {
		if _, err := training.ParsePrecision(c.Precision); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	if c.Optimizer != "" {
		if _, err := training.ParseOptimizer(c.Optimizer); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// Train runs the experiment with settings c in a new run folder under
// runsDir.
func Train(c Config, runsDir string, stdout, stderr io.Writer) error {
	return train(c, runsDir, "", stdout, stderr)
}

// Resume continues the run folder dir from its checkpoint, with the
// settings of its config.json.
func Resume(dir string, stdout, stderr io.Writer) error {
	return resumeRun(dir, nil, stdout, stderr)
}

// layoutFlags returns what the -backend, -mesh and -strategy flags set on
// the command line change in a resumed run's settings: a run resumes on
// another mesh or strategy (its checkpoint is whole). A new mesh without a
// -backend drops the recorded backend, whose device count was the old
// mesh's.
func layoutFlags(fs *flag.FlagSet, given Model) func(*Model) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return func(m *Model) {
		if set["mesh"] {
			m.Mesh = given.Mesh
			if !set["backend"] {
				m.Backend = ""
			}
		}
		if set["strategy"] {
			m.Strategy = given.Strategy
		}
		if set["backend"] {
			m.Backend = given.Backend
		}
	}
}

// resumeRun is Resume with the layout flags of the command line applied
// (override nil: none).
func resumeRun(dir string, override func(*Model), stdout, stderr io.Writer) error {
	var c Config
	if err := lab.ReadConfig(dir, &c); err != nil {
		return err
	}
	if override != nil {
		override(&c.Model)
	}
	if c.Accumulate == 0 {
		c.Accumulate = 1 // a run folder from before gradient accumulation
	}
	if err := c.check(filepath.Join(dir, "config.json")); err != nil {
		return err
	}
	return train(c, "", dir, stdout, stderr)
}

// train runs the experiment in a new run folder under runsDir, or continues
// the run folder resumeDir from its checkpoint. Under mpirun each process
// trains on its share of every batch (training.Trainer.SetProcesses); rank 0
// writes the run folder and reports, the others read its checkpoint to
// resume.
func train(c Config, runsDir, resumeDir string, stdout, stderr io.Writer) error {
	world, err := mpi.Join()
	if err != nil {
		return err
	}
	defer world.Finalize()
	if c.BatchSize%world.Size() != 0 {
		return fmt.Errorf("batch-size %d does not split over the %d processes of this job (mpirun -np %d): make it a multiple",
			c.BatchSize, world.Size(), world.Size())
	}
	c.Processes = world.Size()
	if world.Rank() > 0 {
		stdout, stderr = io.Discard, io.Discard // rank 0 reports for the job
	}
	vocab, data, err := training.LoadCharDataset(c.Data)
	if err != nil {
		return fmt.Errorf("%w (set -data, or run `make assets`)", err)
	}
	if err := c.CheckFits(data, vocab.Size()); err != nil {
		return err
	}
	backend, err := c.Parallel.Backend(c.Backend)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	c.Backend = xla.SpecOf(backend)
	cfg := c.GPT2(vocab.Size())
	cfg.BosTokenID = startID(vocab)
	cfg.ResidPdrop, cfg.EmbdPdrop, cfg.AttnPdrop = c.Dropout, c.Dropout, c.Dropout
	m, err := gpt2.NewRandom(cfg, c.Seed, backend)
	if err != nil {
		return err
	}
	tr, err := c.trainer(m, backend)
	if err != nil {
		return err
	}
	if err := c.Parallel.Shard(backend, tr); err != nil {
		return err
	}
	if err := tr.SetProcesses(world); err != nil {
		return err
	}
	if world.Rank() > 0 {
		_, err := c.loop(tr, data, nil, resumeDir, stderr).Run(resumeDir != "")
		return err
	}
	r, err := openRun(c, runsDir, resumeDir)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(stderr, "shakespeare_char: %d characters, vocabulary %d, %s, %s, %d process(es), run folder %s\n",
		data.Train.Len()+data.Val.Len(), vocab.Size(), c.Backend, c.Parallel, world.Size(), r.Dir)
	res, err := c.loop(tr, data, r, resumeDir, stderr).Run(resumeDir != "")
	if err != nil {
		return err
	}
	if res.Stopped {
		fmt.Fprintf(stdout, "stopped after %d iterations; continue with -resume %s\n", res.Steps, r.Dir)
		return nil
	}
	return finish(c, r, m, vocab, res, stdout)
}

// openRun creates the run folder under runsDir, or reopens resumeDir.
func openRun(c Config, runsDir, resumeDir string) (*lab.Run, error) {
	if resumeDir == "" {
		return lab.NewRun(runsDir, "shakespeare_char", c, c.Backend, c.Seed)
	}
	return lab.OpenRun(resumeDir, &Config{})
}

// loop returns the training loop of tr over data, writing its checkpoints
// and metrics into r; r nil (a process of a job other than rank 0) writes
// nothing and resumes from resumeDir's checkpoint.
func (c Config) loop(tr *training.Trainer, data *training.Dataset, r *lab.Run, resumeDir string, stderr io.Writer) *training.Loop {
	l := &training.Loop{
		Trainer:      tr,
		Iters:        c.Iters,
		Schedule:     training.Schedule{LR: c.LR, MinLR: c.MinLR, WarmupIters: c.WarmupIters, DecayIters: c.DecayIters},
		Batch:        data.Sampler("train", c.BatchSize, c.BlockSize),
		Accumulate:   c.Accumulate,
		EvalInterval: c.EvalInterval,
		Evals: []training.Eval{
			training.SampledEval("train-estimate", c.EvalIters, data.Sampler("train", c.BatchSize, c.BlockSize)),
			training.SampledEval("val", c.EvalIters, data.Sampler("val", c.BatchSize, c.BlockSize)),
		},
		Seed:      c.Seed,
		Patience:  c.Patience,
		StopAfter: c.StopAfter,
		Log:       prefixed{stderr, "shakespeare_char: "},
	}
	if r == nil {
		if resumeDir != "" {
			l.Checkpoint = lab.CheckpointPath(resumeDir)
		}
		return l
	}
	l.Checkpoint = r.Checkpoint()
	l.Best = filepath.Join(r.Dir, "checkpoints", "best.safetensors")
	l.Callbacks = []training.Callback{r, &lab.Progress{W: stderr, Total: c.Iters}}
	return l
}

// trainer returns the trainer of m with c's optimizer, clipping,
// precision and gradient checkpointing.
func (c Config) trainer(m *gpt2.Model, backend compute.Backend) (*training.Trainer, error) {
	var opt training.Optimizer = training.AdamW{Beta1: c.Beta1, Beta2: c.Beta2, Epsilon: 1e-8, WeightDecay: c.WeightDecay}
	if c.Optimizer != "" && c.Optimizer != "adamw" {
		var err error
		if opt, err = training.ParseOptimizer(c.Optimizer); err != nil {
			return nil, err
		}
	}
	tr, err := training.NewTrainer(m.Params(), backend, training.CausalLMLoss(m.Decoder), opt, c.GradClip)
	if err != nil {
		return nil, err
	}
	if c.Precision != "" {
		dtype, err := training.ParsePrecision(c.Precision)
		if err != nil {
			return nil, err
		}
		if err := tr.SetPrecision(dtype); err != nil {
			return nil, err
		}
	}
	return tr, tr.SetGradientCheckpointing(c.GradCheckpoint)
}

// finish writes the end of a run — the model, the report and a sample —
// and prints its figures. A resumed run whose checkpoint was its end
// (res.Ended) measured nothing now: its final loss is the one its
// metrics.jsonl recorded, and when its outputs are all there it is left
// as it is.
func finish(c Config, r *lab.Run, m *gpt2.Model, vocab *training.CharVocab, res training.LoopResult, stdout io.Writer) error {
	valLoss, measured := res.Losses["val"]
	if !measured {
		valLoss = math.NaN()
		if s, err := lab.ReadRun(r.Dir); err == nil {
			valLoss = s.FinalVal
		}
	}
	if res.Ended && hasFiles(r.Dir, filepath.Join("model", "config.json"), filepath.Join("model", "model.safetensors"), "report.html", "samples.txt") {
		fmt.Fprintf(stdout, "%s is finished: %d iterations, final val_loss=%s; nothing to do\n", r.Dir, res.Steps, lossText(valLoss))
		return nil
	}
	if err := saveModel(m, vocab, filepath.Join(r.Dir, "model")); err != nil {
		return err
	}
	if err := r.WriteReport("shakespeare_char"); err != nil {
		return err
	}
	start := int32(0)
	if m.Config.BosTokenID != nil {
		start = int32(*m.Config.BosTokenID)
	}
	ids, err := generate.Generate(m, []int32{start}, generate.Options{MaxNewTokens: c.SampleTokens,
		Temperature: 0.8, TopK: 200, Seed: c.Seed, CropContext: true})
	if err != nil {
		return err
	}
	sample := vocab.Decode(ids)
	if err := r.AddSample(fmt.Sprintf("after %d iterations, temperature 0.8, top-k 200", res.Steps), sample); err != nil {
		return err
	}
	if res.Ended {
		fmt.Fprintf(stdout, "training had ended at %d iterations; wrote the model, report and sample it lacked\n", res.Steps)
	} else {
		fmt.Fprintf(stdout, "trained %d iterations in %s on %s (GOMAXPROCS %d)\n", res.Steps, res.Elapsed.Round(time.Second), c.Backend, runtime.GOMAXPROCS(0))
	}
	fmt.Fprintf(stdout, "final val_loss=%s\n", lossText(valLoss))
	fmt.Fprintf(stdout, "sample:\n%s\n", sample)
	return nil
}

// lossText prints a loss, or says none was recorded.
func lossText(loss float64) string {
	if math.IsNaN(loss) {
		return "unknown (none recorded)"
	}
	return fmt.Sprintf("%.4f", loss)
}

// hasFiles reports whether every name exists in dir.
func hasFiles(dir string, names ...string) bool {
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// prefixed writes each message with a prefix.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

// startID is the id of a newline, from which nanoGPT's sample.py starts
// its text: the model's bos_token_id. It is nil when the text has no
// newline.
func startID(v *training.CharVocab) *int {
	ids, err := v.Encode("\n")
	if err != nil || len(ids) == 0 {
		return nil
	}
	id := int(ids[0])
	return &id
}

// saveModel writes m into dir as a Hugging Face folder with its character
// vocabulary as a tokenizer (tokenizer.json), so that the folder generates
// text in `trustformers generate` and in transformers.
func saveModel(m *gpt2.Model, vocab *training.CharVocab, dir string) error {
	if err := m.Save(dir); err != nil {
		return err
	}
	return tokenizer.SaveCharLevel(dir, vocab.Chars, m.Config.NPositions)
}
