// Package lorafinetune is the lora_finetune experiment: it fine-tunes stories260K (Karpathy's llama2.c model:
// 5 layers, 64 wide, a 512-token vocabulary) with LoRA adapters on its
// attention and MLP projections (package training/lora) and reports the
// validation loss before and after.
//
//	go run ./lab/lora_finetune [-iters 150] [-ban 16] [-rank 4] [-backend SPEC] [-runs runs]
//	trustformers train lora_finetune [the same flags]
//
// The data. stories260K reads and writes the tokens of its own 512-piece
// SentencePiece vocabulary (llama2.c's tok512.model). That tokenizer is not
// among the assets here, so no text can be encoded for it, and a
// character-level text would be noise to it. The target is therefore a token
// stream that is meaningful to the model but that it does not produce: its
// own stories, written under a rule. The script samples a few stories from
// BOS, finds the -ban tokens it uses most (BOS, EOS and <unk> aside), and
// then samples the training and validation stories with those tokens
// forbidden (their probability set to 0, the rest renormalized; temperature
// -temperature, 1 by default, no top-k or top-p). Each sequence is BOS and
// -seq-len tokens, drawn with its own seed; the last -val-seqs are the
// validation set, evaluated whole, with positions from 0 as generated.
//
// The base model puts probability on the forbidden tokens at most steps, so
// its loss on this data is higher than the data's own: the best any model
// can do is the sampling distribution itself, the base model with the
// forbidden tokens masked, whose validation loss the script prints as the
// floor, beside the probability the model gives forbidden tokens before and
// after. The embedding, norms and (tied) head stay frozen, so the adapters
// must learn the rule inside the network; the result says how much of the
// gap between the base model and the floor they close.
//
// (Raising the sampling temperature instead, so that the model must learn
// to be less sure of itself, was tried first: with the same budget the
// adapters fit the training stories and the validation loss rose — the
// signal is one global change buried in sampling noise.)
//
// It writes a run folder runs/lora_finetune/<run-id>/ (see package lab) with
// the adapters in adapter/ (PEFT's layout), and ends by printing
// "val_loss before=X after=Y".
package lorafinetune

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/quant"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/training/lora"
	"github.com/trustformers/trustformers-go/xla"
)

// Config is the experiment's settings, written to the run's config.json.
type Config struct {
	Model string `json:"model" flag:"model" help:"llama2.c checkpoint (stories260K.bin)"`
	// Ban is how many of the model's most used tokens the target stories
	// forbid.
	Ban int `json:"ban" flag:"ban" help:"forbid the model's N most used tokens in the target stories"`
	// Temperature is the sampling temperature of the stories.
	Temperature float64 `json:"temperature" flag:"temperature" help:"sampling temperature of the target stories"`
	TrainSeqs   int     `json:"train_sequences" flag:"train-seqs" help:"training sequences to sample"`
	ValSeqs     int     `json:"val_sequences" flag:"val-seqs" help:"validation sequences to sample"`
	// SeqLen is the number of tokens sampled after BOS in each sequence.
	SeqLen       int      `json:"seq_len" flag:"seq-len" help:"tokens per sequence after BOS"`
	Iters        int      `json:"max_iters" flag:"iters" help:"training iterations (the learning rate decays over the same number)"`
	EvalInterval int      `json:"eval_interval" flag:"eval-interval" help:"iterations between validation losses"`
	BatchSize    int      `json:"batch_size" flag:"batch" help:"sequences per training step"`
	LR           float64  `json:"learning_rate" flag:"lr" help:"peak learning rate (decays to a tenth)"`
	MinLR        float64  `json:"min_lr"`
	WarmupIters  int      `json:"warmup_iters" flag:"warmup-iters" help:"iterations of linear warm-up"`
	GradClip     float64  `json:"grad_clip" flag:"grad-clip" help:"global gradient-norm clip (0: none)"`
	Rank         int      `json:"lora_r" flag:"rank" help:"LoRA rank r"`
	Alpha        float64  `json:"lora_alpha" flag:"alpha" help:"LoRA alpha (the update is scaled by alpha/r)"`
	Dropout      float64  `json:"lora_dropout" flag:"dropout" help:"LoRA dropout (one mask per step over the adapters' inputs; see training/lora)"`
	Targets      []string `json:"target_modules" flag:"targets" help:"comma-separated modules to adapt"`
	Seed         uint64   `json:"seed" flag:"seed" help:"seed for the data, the adapters and the batches"`
	Backend      string   `json:"backend" flag:"backend" help:"backend spec (default: xla.New's choice)"`
	// Quant, when set, quantizes the base model's QuantModules with this
	// scheme (nf4 for QLoRA) before the adapters are added: the base stays
	// frozen in 4 (or 8) bits and the adapters train in float32 on top.
	Quant        string   `json:"quantization,omitempty" flag:"quant" help:"quantize the frozen base first: nf4 (QLoRA), int4 or int8"`
	QuantGroup   int      `json:"quantization_group,omitempty" flag:"quant-group" help:"-quant: inputs per scale (int4, nf4)"`
	DoubleQuant  bool     `json:"double_quant,omitempty" flag:"double-quant" help:"-quant nf4: quantize the block maxima again (QLoRA)"`
	QuantModules []string `json:"quantized_modules,omitempty" flag:"quant-modules" help:"-quant: comma-separated modules to quantize"`
	// Callback, when set, receives every training and validation
	// measurement too (a notebook's viz.LiveLoss through
	// training.PerMetric).
	Callback training.Callback `json:"-"`
}

// Result is what a run measured.
type Result struct {
	// Before and After are the validation losses of the adapted model at
	// initialization (equal to the base model's) and after training; Floor
	// is the loss of the distribution the data was sampled from.
	Before, After, Floor float64
	// MassBefore and MassAfter are the mean probability the model gives the
	// forbidden tokens over the validation positions.
	MassBefore, MassAfter float64
	// Banned are the forbidden token ids.
	Banned []int32
	// Dir is the run folder.
	Dir string
	// Val are the validation sequences.
	Val [][]int32 `json:"-"`
}

// DefaultConfig returns the experiment's default settings, with the model
// at its default place.
func DefaultConfig() Config {
	return Config{Model: lab.DataPath("tinyllamas/stories260K.bin"), Ban: 16, Temperature: 1, TrainSeqs: 1024, ValSeqs: 64, SeqLen: 64, Iters: 150,
		EvalInterval: 50, BatchSize: 16, LR: 2e-3, MinLR: 2e-4, WarmupIters: 10, GradClip: 1, Rank: 4, Alpha: 4,
		Targets: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, Seed: 1337,
		// stories260K's down projection is 172 inputs wide, which no group
		// of 32 divides: it stays float32 when the base is quantized.
		QuantGroup: 32, QuantModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"}}
}

// check returns an error naming the first setting that cannot run.
func (c Config) check(where string) error {
	s := lab.CheckSettings(where)
	s.AtLeast("ban", c.Ban, 0)
	s.AtLeast("train-seqs", c.TrainSeqs, 1)
	s.AtLeast("val-seqs", c.ValSeqs, 1)
	s.AtLeast("seq-len", c.SeqLen, 1)
	s.AtLeast("iters", c.Iters, 0)
	s.AtLeast("eval-interval", c.EvalInterval, 0)
	s.AtLeast("batch", c.BatchSize, 1)
	s.AtLeast("rank", c.Rank, 1)
	s.AtLeast("warmup-iters", c.WarmupIters, 0)
	s.NonNegative("grad-clip", c.GradClip)
	s.NonNegative("temperature", c.Temperature)
	s.NonNegative("lr", c.LR)
	s.NonNegative("alpha", c.Alpha)
	s.Within("dropout", c.Dropout, 0, 1)
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
var Command = lab.Experiment{Name: "lora_finetune",
	Summary: "LoRA fine-tuning of stories260K on its own stories with its most used tokens forbidden", Run: Run}

// Run parses args as the experiment's flags and runs it, printing the
// result to stdout and the progress to stderr. Flags that do not parse, or
// -h, give a *lab.FlagError.
func Run(args []string, stdout, stderr io.Writer) error {
	c := DefaultConfig()
	fs := flag.NewFlagSet("lora_finetune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lab.Flags(fs, &c)
	runs := fs.String("runs", "runs", "folder for run folders")
	if err := lab.ParseFlags(fs, args); err != nil {
		return err
	}
	c.MinLR = c.LR / 10
	if err := c.check("flags"); err != nil {
		return err
	}
	if c.Quant == "" {
		c.QuantGroup, c.QuantModules = 0, nil
	}
	res, err := Train(c, *runs, stdout, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "val_loss before=%.4f after=%.4f\n", res.Before, res.After)
	return nil
}

// Train runs the experiment with settings c in a new run folder under
// runsDir and returns what it measured.
func Train(c Config, runsDir string, stdout, stderr io.Writer) (Result, error) {
	var res Result
	if err := c.runnable(); err != nil {
		return res, err
	}
	backend, err := xla.New(c.Backend)
	if err != nil {
		return res, err
	}
	defer backend.Finalize()
	c.Backend = xla.SpecOf(backend)
	began := time.Now()

	// The data: the base model's own stories, with its most used tokens forbidden.
	base, err := llama.LoadLlama2C(c.Model, backend)
	if err != nil {
		return res, fmt.Errorf("%w (set -model, or run `make assets`)", err)
	}
	if c.SeqLen+1 > base.Config.MaxPositionEmbeddings {
		return res, fmt.Errorf("seq-len %d does not fit the model's %d positions", c.SeqLen, base.Config.MaxPositionEmbeddings)
	}
	// The model to fine-tune: a fresh copy, quantized if asked, then
	// adapted — first, so that -quant, -quant-modules and -targets that
	// cannot apply fail before the minute of sampling.
	m, adapters, err := adapted(c, backend)
	if err != nil {
		return res, err
	}
	train, err := res.sampleData(base, c, stderr)
	if err != nil {
		return res, err
	}
	sampled := time.Since(began)

	r, err := lab.NewRun(runsDir, "lora_finetune", c, c.Backend, c.Seed)
	if err != nil {
		return res, err
	}
	defer r.Close()
	res.Dir = r.Dir
	baseSize := -adapters.NumParams()
	for _, name := range m.Params().Names() {
		baseSize += m.Params().Variable(name).Shape().Size()
	}
	fmt.Fprintf(stderr, "lora_finetune: %d modules adapted, %d trainable weights beside the model's %d frozen ones, run folder %s\n",
		len(adapters.Modules()), adapters.NumParams(), baseSize, r.Dir)
	losses, err := fineTune(c, m, adapters, r, train, res.Val, backend, stderr)
	if err != nil {
		return res, err
	}
	res.Before, res.After = losses[0], losses[len(losses)-1]
	if err := adapters.SetTraining(false); err != nil {
		return res, err
	}
	after, err := evaluate(m.Decoder, rule{temperature: 1, banned: res.Banned}, res.Val, c.BatchSize)
	if err != nil {
		return res, err
	}
	res.MassAfter = after[1]
	if err := adapters.Save(filepath.Join(r.Dir, "adapter")); err != nil {
		return res, err
	}
	if err := r.WriteReport("lora_finetune"); err != nil {
		return res, err
	}
	fmt.Fprintf(stdout, "sampled the data in %s; trained %d iterations in %s on %s\n", sampled.Round(time.Millisecond),
		c.Iters, (time.Since(began) - sampled).Round(time.Millisecond), c.Backend)
	res.print(stdout)
	return res, nil
}

// runnable refuses settings Train cannot run with (it is also called as a
// library, without the flags' check).
func (c Config) runnable() error {
	if c.TrainSeqs < c.BatchSize || c.BatchSize <= 0 || c.ValSeqs <= 0 || c.SeqLen <= 0 || c.Iters <= 0 ||
		c.Temperature <= 0 || c.Ban < 0 {
		return fmt.Errorf("need batch > 0, train-seqs ≥ batch, positive val-seqs, seq-len, iters and temperature, ban ≥ 0 "+
			"(got batch %d, train-seqs %d, val-seqs %d, seq-len %d, iters %d, temperature %v, ban %d)",
			c.BatchSize, c.TrainSeqs, c.ValSeqs, c.SeqLen, c.Iters, c.Temperature, c.Ban)
	}
	return nil
}

// adapted loads the model to fine-tune, quantizes it as c asks (QLoRA)
// and adds the LoRA adapters.
func adapted(c Config, backend compute.Backend) (*llama.Model, *lora.Adapters, error) {
	m, err := llama.LoadLlama2C(c.Model, backend)
	if err != nil {
		return nil, nil, err
	}
	if err := quantizeBase(m, c); err != nil {
		return nil, nil, err
	}
	adapters, err := lora.Apply(m.Params(), lora.Config{Rank: c.Rank, Alpha: c.Alpha, Dropout: c.Dropout, Targets: c.Targets,
		Seed: c.Seed, BaseModel: "stories260K"})
	if err != nil {
		return nil, nil, err
	}
	return m, adapters, nil
}

// sampleData samples the target stories from base: its c.Ban most used
// tokens (in a pilot sample) forbidden. It returns the training rows and
// sets the Result's banned tokens, validation rows, floor and the base
// model's probability of the banned tokens.
func (res *Result) sampleData(base *llama.Model, c Config, stderr io.Writer) ([][]int32, error) {
	bos, eos := int32(*base.Config.BosTokenID), int32(2) // llama2.c's fixed EOS (see llama.LoadLlama2C)
	pilot, err := sample(base, bos, 64, c.SeqLen+1, rule{temperature: c.Temperature}, c.Seed+2<<32)
	if err != nil {
		return nil, err
	}
	res.Banned = mostUsed(pilot, c.Ban, 0, bos, eos)
	target := rule{temperature: c.Temperature, banned: res.Banned}
	fmt.Fprintf(stderr, "lora_finetune: sampling %d+%d sequences of %d tokens without tokens %v at temperature %g on %s\n",
		c.TrainSeqs, c.ValSeqs, c.SeqLen, res.Banned, c.Temperature, c.Backend)
	rows, err := sample(base, bos, c.TrainSeqs+c.ValSeqs, c.SeqLen+1, target, c.Seed)
	if err != nil {
		return nil, err
	}
	res.Val = rows[c.TrainSeqs:]
	// The floor, and the base model's probability of forbidden tokens.
	floor, err := evaluate(base.Decoder, target, res.Val, c.BatchSize)
	if err != nil {
		return nil, err
	}
	res.Floor, res.MassBefore = floor[0], floor[1]
	return rows[:c.TrainSeqs], nil
}

// fineTune trains the adapters on train with training.Loop, evaluating on
// val, and returns every validation loss in order.
func fineTune(c Config, m *llama.Model, adapters *lora.Adapters, r *lab.Run, train, val [][]int32, backend compute.Backend, stderr io.Writer) ([]float64, error) {
	opt := training.AdamW{Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8} // no weight decay on the adapters, as PEFT's usual recipes
	tr, err := training.NewTrainer(m.Params(), backend, training.CausalLMLoss(m.Decoder), opt, c.GradClip)
	if err != nil {
		return nil, err
	}
	callbacks := []training.Callback{r, &lab.Progress{W: stderr, Total: c.Iters}}
	if c.Callback != nil {
		callbacks = append(callbacks, c.Callback)
	}
	valBatches := make([][]*tensors.Tensor, 0, (len(val)+c.BatchSize-1)/c.BatchSize)
	for i := 0; i < len(val); i += c.BatchSize {
		x, y := batchTensors(val[i:min(i+c.BatchSize, len(val))])
		valBatches = append(valBatches, []*tensors.Tensor{x, y})
	}
	picked := make([][]int32, c.BatchSize)
	var losses []float64
	loop := &training.Loop{
		Trainer:  tr,
		Iters:    c.Iters,
		Schedule: training.Schedule{LR: c.LR, MinLR: c.MinLR, WarmupIters: c.WarmupIters, DecayIters: c.Iters},
		Batch: func(rng *rand.Rand) ([]*tensors.Tensor, error) {
			for i := range picked {
				picked[i] = train[rng.IntN(len(train))]
			}
			x, y := batchTensors(picked)
			return []*tensors.Tensor{x, y}, nil
		},
		EvalInterval: c.EvalInterval,
		Evals: []training.Eval{{Split: "val", Batches: func(*rand.Rand) ([][]*tensors.Tensor, error) {
			return valBatches, nil
		}}},
		TrainRNG: rand.NewPCG(c.Seed, 2),
		Callbacks: append(callbacks, training.CallbackFunc(func(m training.Metrics) {
			if m.Split == "val" {
				losses = append(losses, m.Loss)
			}
		})),
		// The adapters' dropout is off while the loss is measured.
		BeforeEval: func() error { return adapters.SetTraining(false) },
		AfterEval:  func() error { return adapters.SetTraining(true) },
	}
	if _, err := loop.Run(false); err != nil {
		return nil, err
	}
	return losses, nil
}

// print writes the result's figures: the forbidden tokens' probability
// before and after, and how much of the gap to the floor the adapters
// closed.
func (res *Result) print(stdout io.Writer) {
	fmt.Fprintf(stdout, "forbidden tokens %v: probability %.1f%% before, %.1f%% after\n", res.Banned, 100*res.MassBefore, 100*res.MassAfter)
	fmt.Fprintf(stdout, "floor (the sampling distribution's own loss)=%.4f", res.Floor)
	if gap := res.Before - res.Floor; gap > 1e-3 {
		fmt.Fprintf(stdout, ": the adapters closed %.0f%% of the gap", 100*(res.Before-res.After)/gap)
	}
	fmt.Fprintln(stdout)
}

// quantizeBase quantizes m's c.QuantModules with c.Quant (QLoRA's frozen
// base), or does nothing when c.Quant is empty.
func quantizeBase(m *llama.Model, c Config) error {
	_, err := quant.ApplyNamed(m.Params(), c.Quant, quant.Config{GroupSize: c.QuantGroup, DoubleQuant: c.DoubleQuant, Modules: c.QuantModules})
	return err
}

// rule is how target stories are sampled from the base model's logits:
// divided by temperature, with banned tokens impossible.
type rule struct {
	temperature float64
	banned      []int32
}

// logits applies the rule to logits [..., vocab] inside a graph.
func (r rule) logits(logits *Node) *Node {
	if r.temperature != 1 {
		logits = DivScalar(logits, r.temperature)
	}
	if len(r.banned) == 0 {
		return logits
	}
	v := logits.Shape().Dimensions[logits.Rank()-1]
	mask := make([]float32, v)
	for _, id := range r.banned {
		mask[id] = -1e9 // not -Inf: the cross-entropy multiplies log-probabilities by 0
	}
	return Add(logits, modeling.Like(Const(logits.Graph(), mask), logits))
}

func forward(d *modeling.Decoder, x *Node) *Node {
	pos := Iota(x.Graph(), shapes.Make(dtypes.Int32, x.Shape().Dimensions...), 1)
	logits, _, _ := d.ForwardGraph(x, pos, nil)
	return logits
}

// evaluate returns, over rows, the loss of d's logits passed through r and
// the mean probability d itself gives r's banned tokens.
func evaluate(d *modeling.Decoder, r rule, rows [][]int32, batch int) ([]float64, error) {
	exec, err := d.Params().NewExec(d.Backend, func(in []*Node) []*Node {
		logits := forward(d, in[0])
		isBanned := make([]float32, logits.Shape().Dimensions[2])
		for _, id := range r.banned {
			isBanned[id] = 1
		}
		mass := ReduceAllMean(ReduceSum(Mul(Softmax(logits, -1), modeling.Like(Const(logits.Graph(), isBanned), logits)), -1))
		return []*Node{training.CrossEntropy(r.logits(logits), in[1]), mass}
	})
	if err != nil {
		return nil, err
	}
	return meanOver(rows, batch, func(x, y *tensors.Tensor) ([]float64, error) {
		out, err := exec.Call(x, y)
		if err != nil {
			return nil, err
		}
		return []float64{float64(tensors.MustCopyFlatData[float32](out[0])[0]), float64(tensors.MustCopyFlatData[float32](out[1])[0])}, nil
	})
}

// batchTensors turns sequences of T+1 tokens into inputs and next-token
// targets, both [len(rows), T].
func batchTensors(rows [][]int32) (x, y *tensors.Tensor) {
	t := len(rows[0]) - 1
	xs := make([]int32, 0, len(rows)*t)
	ys := make([]int32, 0, len(rows)*t)
	for _, r := range rows {
		xs, ys = append(xs, r[:t]...), append(ys, r[1:]...)
	}
	return tensors.FromFlatDataAndDimensions(xs, len(rows), t), tensors.FromFlatDataAndDimensions(ys, len(rows), t)
}

// meanOver evaluates rows, batch rows at a time, and returns the means of
// eval's per-token means, weighted by rows.
func meanOver(rows [][]int32, batch int, eval func(x, y *tensors.Tensor) ([]float64, error)) ([]float64, error) {
	var sums []float64
	for i := 0; i < len(rows); i += batch {
		chunk := rows[i:min(i+batch, len(rows))]
		vals, err := eval(batchTensors(chunk))
		if err != nil {
			return nil, err
		}
		if sums == nil {
			sums = make([]float64, len(vals))
		}
		for j, v := range vals {
			sums[j] += v * float64(len(chunk))
		}
	}
	for j := range sums {
		sums[j] /= float64(len(rows))
	}
	return sums, nil
}

// mostUsed returns the n most frequent tokens of rows (ties to the lower
// id), skipping the tokens in skip, sorted by id.
func mostUsed(rows [][]int32, n int, skip ...int32) []int32 {
	count := map[int32]int{}
	for _, r := range rows {
		for _, id := range r {
			count[id]++
		}
	}
	for _, id := range skip {
		delete(count, id)
	}
	ids := make([]int32, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if count[ids[i]] != count[ids[j]] {
			return count[ids[i]] > count[ids[j]]
		}
		return ids[i] < ids[j]
	})
	ids = ids[:min(n, len(ids))]
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// sampleBatch is how many sequences are sampled together.
const sampleBatch = 2048

// sample draws n sequences of length tokens from lm: BOS, then tokens drawn
// at r's temperature with r's banned tokens made impossible (a
// generate.BanTokens processor). The sequences of batch k come from
// generate's NumReturnSequences seeded with seed+k.
func sample(lm models.CausalLM, bos int32, n, length int, r rule, seed uint64) ([][]int32, error) {
	var rows [][]int32
	for start := 0; start < n; start += sampleBatch {
		outs, err := generate.Run(lm, [][]int32{{bos}}, generate.Options{
			MaxNewTokens: length - 1, Temperature: r.temperature, Seed: seed + uint64(start/sampleBatch),
			NumReturnSequences: min(sampleBatch, n-start), Processors: []generate.LogitsProcessor{generate.BanTokens(r.banned...)},
		})
		if err != nil {
			return nil, err
		}
		for _, o := range outs {
			if len(o.IDs) != length-1 {
				return nil, fmt.Errorf("sampled %d tokens, want %d (%s)", len(o.IDs), length-1, o.Reason)
			}
			rows = append(rows, append([]int32{bos}, o.IDs...))
		}
	}
	return rows, nil
}
