// Package sft is the sft experiment: supervised fine-tuning of the real
// SmolLM2-135M-Instruct with LoRA on a task whose answers exact match can
// grade, measured on held-out questions before and after.
//
//	go run ./lab/sft [-iters 60] [-train 200] [-held-out 50] [-backend SPEC] [-runs runs]
//	trustformers train sft [the same flags]
//
// The task. A seeded generator (Generate) draws distinct questions of five
// kinds — two-digit addition and subtraction, kilometres to metres, hours to
// minutes, and reversing a short word — each with one short answer, and
// writes them into the run folder as chat JSONL (train.jsonl and
// heldout.jsonl, TRL's "messages" format, a system prompt asking for the
// result only). Exact match (Extract) reads a reply's first line without
// quotes, a final period or thousands commas.
//
// The training is TRL's SFTTrainer recipe (training.LoadSFTDataset): the
// chat template with {% generation %} blocks around the assistant's turns
// (SmolLM2's own template has none; smollm2_training.jinja is the same
// template with them), loss on the assistant's tokens only, examples packed
// best fit decreasing into rows of -max-length tokens; LoRA adapters
// (training/lora) on the attention and MLP projections, AdamW, a cosine
// decay from -lr to a tenth of it, gradient clipping.
//
// The model answers each held-out question greedily through its chat
// template before and after the training; the run folder gets answers.jsonl
// (each question with both replies), the initial adapters (adapter_init/,
// PEFT's layout, for scripts/reference/sft_trl.py), the trained ones
// (adapter/), the merged model (merged/: config.json, model.safetensors,
// tokenizer.json and tokenizer_config.json with SmolLM2's chat template,
// which `trustformers generate --model` and transformers load) and, with
// -reference-steps N, the first N steps' batches and learning rates
// (reference_batches.safetensors) that scripts/reference/sft_trl.py feeds
// TRL's SFTTrainer. It ends by printing "exact_match before=X after=Y".
package sft

import (
	_ "embed"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/quant"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/training/lora"
	"github.com/trustformers/trustformers-go/xla"
)

// TrainingTemplate is SmolLM2's chat template with the assistant's turns
// in {% generation %} blocks, which assistant-only loss needs (the same
// file as models/testdata/sft/smollm2_training.jinja; a test keeps them
// equal).
//
//go:embed smollm2_training.jinja
var TrainingTemplate string

// Config is the experiment's settings, written to the run's config.json.
type Config struct {
	Model        string   `json:"model" flag:"model" help:"SmolLM2-135M-Instruct GGUF file"`
	Train        int      `json:"train_examples" flag:"train" help:"training questions"`
	HeldOut      int      `json:"held_out_examples" flag:"held-out" help:"held-out questions, graded before and after"`
	MaxLength    int      `json:"max_length" flag:"max-length" help:"tokens per packed row"`
	BatchSize    int      `json:"batch_size" flag:"batch" help:"packed rows per step"`
	Iters        int      `json:"max_steps" flag:"iters" help:"training steps (the learning rate decays over them)"`
	EvalInterval int      `json:"eval_interval" flag:"eval-interval" help:"steps between held-out losses (0: first and last only)"`
	LR           float64  `json:"learning_rate" flag:"lr" help:"peak learning rate (cosine decay to a tenth)"`
	MinLR        float64  `json:"min_lr"`
	WeightDecay  float64  `json:"weight_decay" flag:"weight-decay" help:"AdamW's decoupled weight decay on the adapters"`
	GradClip     float64  `json:"max_grad_norm" flag:"grad-clip" help:"global gradient-norm clip (0: none)"`
	Rank         int      `json:"lora_r" flag:"rank" help:"LoRA rank r"`
	Alpha        float64  `json:"lora_alpha" flag:"alpha" help:"LoRA alpha (the update is scaled by alpha/r)"`
	Targets      []string `json:"target_modules" flag:"targets" help:"comma-separated modules to adapt"`
	MaxNewTokens int      `json:"max_new_tokens" flag:"max-new-tokens" help:"tokens generated per answer"`
	Seed         uint64   `json:"seed" flag:"seed" help:"seed for the questions, the adapters and the row order"`
	Backend      string   `json:"backend" flag:"backend" help:"backend spec (default: xla.New's choice)"`
	// ReferenceSteps is how many first steps' batches go to
	// reference_batches.safetensors for the TRL comparison.
	ReferenceSteps int  `json:"reference_steps" flag:"reference-steps" help:"write the first N steps' batches for scripts/reference/sft_trl.py (0: none)"`
	NoMerged       bool `json:"no_merged,omitempty" flag:"no-merged" help:"skip the merged model folder (540 MB)"`
	// Quant, when set, quantizes the frozen base's target modules with
	// this scheme before the adapters are added (QLoRA with nf4): the
	// adapters train over the quantized weights. A quantized run writes no
	// merged folder and no batches for TRL.
	Quant       string `json:"quantization,omitempty" flag:"quant" help:"quantize the frozen base first: nf4 (QLoRA), int4 or int8"`
	QuantGroup  int    `json:"quantization_group,omitempty" flag:"quant-group" help:"-quant: inputs per scale (int4, nf4)"`
	DoubleQuant bool   `json:"double_quant,omitempty" flag:"double-quant" help:"-quant nf4: quantize the block maxima again (QLoRA)"`
	// Callback, when set, receives every training and held-out loss too
	// (a notebook's viz.LiveLoss through training.PerMetric).
	Callback training.Callback `json:"-"`
}

// DefaultConfig returns the experiment's default settings, with the model
// at its default place.
func DefaultConfig() Config {
	return Config{Model: lab.ModelPath("SmolLM2-135M-Instruct.Q4_1.gguf"), Train: 200, HeldOut: 50, MaxLength: 128,
		BatchSize: 2, Iters: 60, EvalInterval: 20, LR: 1e-3, GradClip: 1, Rank: 8, Alpha: 16,
		Targets:      []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		MaxNewTokens: 12, Seed: 1337, ReferenceSteps: 20, QuantGroup: 64}
}

// check returns an error naming the first setting that cannot run.
func (c Config) check(where string) error {
	s := lab.CheckSettings(where)
	s.AtLeast("train", c.Train, 1)
	s.AtLeast("held-out", c.HeldOut, 1)
	s.AtLeast("max-length", c.MaxLength, 16)
	s.AtLeast("batch", c.BatchSize, 1)
	s.AtLeast("iters", c.Iters, 1)
	s.AtLeast("eval-interval", c.EvalInterval, 0)
	s.AtLeast("rank", c.Rank, 1)
	s.AtLeast("max-new-tokens", c.MaxNewTokens, 1)
	s.AtLeast("reference-steps", c.ReferenceSteps, 0)
	s.NonNegative("lr", c.LR)
	s.NonNegative("weight-decay", c.WeightDecay)
	s.NonNegative("grad-clip", c.GradClip)
	s.NonNegative("alpha", c.Alpha)
	if err := s.Err(); err != nil {
		return err
	}
	if c.Quant != "" {
		if _, err := quant.ParseScheme(c.Quant); err != nil {
			return fmt.Errorf("%s: -quant: %w", where, err)
		}
	}
	return nil
}

// Command is the experiment as lab.Main and `trustformers train` run it.
var Command = lab.Experiment{Name: "sft",
	Summary: "LoRA SFT of SmolLM2-135M-Instruct on arithmetic, conversions and reversals, graded by exact match", Run: Run}

// Run parses args as the experiment's flags and runs it, printing the
// result to stdout and the progress to stderr. Flags that do not parse, or
// -h, give a *lab.FlagError.
func Run(args []string, stdout, stderr io.Writer) error {
	c := DefaultConfig()
	fs := flag.NewFlagSet("sft", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lab.Flags(fs, &c)
	runs := fs.String("runs", "runs", "folder for run folders")
	if err := lab.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := c.check("flags"); err != nil {
		return err
	}
	res, err := Train(c, *runs, stdout, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exact_match before=%.3f after=%.3f\n", res.Before, res.After)
	return nil
}

// Result is what a run measured.
type Result struct {
	// Before and After are the held-out exact-match accuracies.
	Before, After float64
	// Answers are the held-out questions with both replies.
	Answers []Answer
	// Losses are the training losses, one a step.
	Losses []float64
	// StepTime is the median wall time of a training step (the first,
	// which compiles, left out).
	StepTime time.Duration
	// Dir is the run folder.
	Dir string
}

// Answer is one held-out question with the model's replies before and
// after the fine-tuning.
type Answer struct {
	Problem
	Before string `json:"before"`
	After  string `json:"after"`
}

// Train runs the experiment with settings c in a new run folder under
// runsDir and returns what it measured.
func Train(c Config, runsDir string, stdout, stderr io.Writer) (Result, error) {
	var res Result
	if err := c.check("sft"); err != nil {
		return res, err
	}
	c.MinLR = c.LR / 10
	backend, err := xla.New(c.Backend)
	if err != nil {
		return res, err
	}
	defer backend.Finalize()
	c.Backend = xla.SpecOf(backend)
	trainSet, heldOut, err := Generate(c.Seed, c.Train, c.HeldOut)
	if err != nil {
		return res, err
	}
	tok, m, err := loadModel(c.Model, backend)
	if err != nil {
		return res, err
	}
	r, err := lab.NewRun(runsDir, "sft", c, c.Backend, c.Seed)
	if err != nil {
		return res, err
	}
	defer r.Close()
	res.Dir = r.Dir
	if err := res.run(c, r, backend, tok, m, trainSet, heldOut, stderr); err != nil {
		return res, err
	}
	if err := r.WriteReport("sft"); err != nil {
		return res, err
	}
	fmt.Fprintf(stdout, "run folder %s; %d steps on %s, median step %s\n", r.Dir, c.Iters, c.Backend, res.StepTime.Round(time.Millisecond))
	return res, nil
}

// loadModel loads SmolLM2's tokenizer and model from its GGUF file,
// dequantized to float32: the base the adapters are merged into (-quant
// quantizes it afterwards for QLoRA).
func loadModel(path string, backend compute.Backend) (*tokenizer.Tokenizer, *llama.Model, error) {
	tok, err := tokenizer.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (set -model, or run `make setup`)", err)
	}
	m, err := llama.LoadGGUF(path, backend, modeling.LoadOptions{DType: "float32"})
	if err != nil {
		return nil, nil, err
	}
	return tok, m, nil
}

// run is the experiment inside its run folder: the data, the grading
// before, the fine-tuning, the grading after, and the saved adapters and
// merged model.
func (res *Result) run(c Config, r *lab.Run, backend compute.Backend, tok *tokenizer.Tokenizer, m *llama.Model,
	trainSet, heldOut []Problem, stderr io.Writer) error {
	trainFile, heldOutFile := filepath.Join(r.Dir, "train.jsonl"), filepath.Join(r.Dir, "heldout.jsonl")
	if err := WriteJSONL(trainFile, trainSet); err != nil {
		return err
	}
	if err := WriteJSONL(heldOutFile, heldOut); err != nil {
		return err
	}
	opts := training.SFTOptions{MaxLength: c.MaxLength, Packing: true, AssistantOnlyLoss: true, Template: TrainingTemplate}
	data, err := training.LoadSFTDataset(trainFile, tok, opts)
	if err != nil {
		return err
	}
	opts.Packing = false
	val, err := training.LoadSFTDataset(heldOutFile, tok, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sft: %d training questions in %d packed rows of %d tokens, %d held out; run folder %s\n",
		len(trainSet), len(data.Rows), c.MaxLength, len(heldOut), r.Dir)
	before, err := Replies(m, tok, heldOut, c.MaxNewTokens)
	if err != nil {
		return err
	}
	if _, err := quant.ApplyNamed(m.Params(), c.Quant, quant.Config{GroupSize: c.QuantGroup, DoubleQuant: c.DoubleQuant, Modules: c.Targets}); err != nil {
		return fmt.Errorf("sft: -quant %s: %w", c.Quant, err)
	}
	adapters, err := lora.Apply(m.Params(), lora.Config{Rank: c.Rank, Alpha: c.Alpha, Targets: c.Targets, Seed: c.Seed,
		BaseModel: "HuggingFaceTB/SmolLM2-135M-Instruct"})
	if err != nil {
		return err
	}
	if err := adapters.Save(filepath.Join(r.Dir, "adapter_init")); err != nil {
		return err
	}
	if err := res.fineTune(c, r, backend, m, data, val, stderr); err != nil {
		return err
	}
	after, err := Replies(m, tok, heldOut, c.MaxNewTokens)
	if err != nil {
		return err
	}
	res.grade(heldOut, before, after)
	if err := writeAnswers(filepath.Join(r.Dir, "answers.jsonl"), res.Answers); err != nil {
		return err
	}
	if err := adapters.Save(filepath.Join(r.Dir, "adapter")); err != nil {
		return err
	}
	if c.NoMerged || c.Quant != "" {
		return nil
	}
	return SaveMerged(filepath.Join(r.Dir, "merged"), m, adapters, tok)
}

// SaveMerged folds the adapters into m (lora's Merge) and writes it to dir
// in Hugging Face's layout (config.json, model.safetensors without the
// spent adapter weights, which Merge leaves in Params) with its tokenizer
// (tokenizer.json, tokenizer_config.json with the tokenizer's own chat
// template), which `trustformers generate --model dir` and transformers'
// AutoModelForCausalLM and AutoTokenizer load. After it, m is the merged
// model.
func SaveMerged(dir string, m *llama.Model, adapters *lora.Adapters, tok *tokenizer.Tokenizer) error {
	if err := adapters.Merge(); err != nil {
		return err
	}
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	for _, name := range adapters.Names() {
		set.Delete(name)
	}
	if err := modeling.SaveModel(dir, set, m.Config); err != nil {
		return err
	}
	return tok.Save(dir, "")
}
