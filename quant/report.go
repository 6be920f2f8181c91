package quant

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Eval is the data a Report measures on.
type Eval struct {
	// Inputs are token sequences (of one length) whose logits are compared
	// with the float32 model's.
	Inputs [][]int32
	// Val are validation sequences (of one length): the perplexity is
	// exp of the mean negative log-likelihood of each next token.
	Val [][]int32
	// Batch is how many sequences go through the model at once (0: 8).
	Batch int
}

// SampledEval returns an Eval of n sequences of length tokens sampled from
// lm (temperature 1, sequence i seeded with seed+i, each starting with
// bos): a text the model finds natural, for models without a tokenizer at
// hand. The logit comparison uses the first eight.
func SampledEval(lm models.CausalLM, n, length int, bos int32, seed uint64) (Eval, error) {
	var eval Eval
	if n <= 0 || length < 2 {
		return eval, fmt.Errorf("quant: need a positive number of sequences of at least 2 tokens, got %d of %d", n, length)
	}
	for i := range n {
		ids, err := generate.Generate(lm, []int32{bos}, generate.Options{MaxNewTokens: length - 1, Temperature: 1, Seed: seed + uint64(i)})
		if err != nil {
			return eval, err
		}
		seq := append([]int32{bos}, ids...) // no stop ids: always length tokens
		if len(seq) != length {
			return eval, fmt.Errorf("quant: sampled %d tokens, not %d (is the length beyond the context?)", len(seq), length)
		}
		eval.Val = append(eval.Val, seq)
	}
	eval.Inputs = eval.Val[:min(8, n)]
	return eval, nil
}

// TextEval returns an Eval of up to n windows of length tokens, evenly
// spaced over the last 10% of ids (nanoGPT's validation split). The logit
// comparison uses the first eight.
func TextEval(ids []int32, n, length int) (Eval, error) {
	var eval Eval
	if n <= 0 || length < 2 {
		return eval, fmt.Errorf("quant: need a positive number of windows of at least 2 tokens, got %d of %d", n, length)
	}
	val := ids[len(ids)*9/10:]
	if len(val) < length {
		return eval, fmt.Errorf("quant: the validation part has %d tokens, fewer than the window %d", len(val), length)
	}
	step := max(1, (len(val)-length)/max(1, n-1))
	for start := 0; start+length <= len(val) && len(eval.Val) < n; start += step {
		eval.Val = append(eval.Val, val[start:start+length])
	}
	eval.Inputs = eval.Val[:min(8, len(eval.Val))]
	return eval, nil
}

// Row is one line of a Report.
type Row struct {
	// Name is "fp32" or the scheme with its group size ("int4 g64").
	Name string
	// FileBytes is the size of the saved model folder.
	FileBytes int64
	// WeightBytes is the size of all the model's weights in memory: the
	// quantized ones' codes and scales and the float32 rest.
	WeightBytes int
	// MaxLogitError and MeanLogitError are the largest and the mean
	// |logit - fp32 logit| over Eval.Inputs.
	MaxLogitError, MeanLogitError float64
	// Perplexity is measured on Eval.Val; PerplexityIncrease is its
	// relative change from fp32's (0.01 is 1% worse).
	Perplexity, PerplexityIncrease float64
}

// Name returns a short name of the configuration: "int8", "int4 g64",
// "nf4 g64 dq".
func (c Config) Name() string {
	if !c.Scheme.Grouped() {
		return string(c.Scheme)
	}
	g := c.GroupSize
	if g == 0 {
		g = DefaultGroupSize
	}
	name := fmt.Sprintf("%s g%d", c.Scheme, g)
	if c.DoubleQuant {
		name += " dq"
	}
	return name
}

// Report measures what each configuration costs: it loads the float model
// with load, measures it, then for each config loads it again, quantizes,
// saves it to a temporary folder (for the file size) and measures it
// against the float model. The model must be a causal LM.
func Report(load func() (models.Model, error), configs []Config, eval Eval) ([]Row, error) {
	if len(eval.Inputs) == 0 || len(eval.Val) == 0 {
		return nil, fmt.Errorf("quant: a report needs input and validation sequences")
	}
	if eval.Batch <= 0 {
		eval.Batch = 8
	}
	base, err := measure(load, nil, eval, nil)
	if err != nil {
		return nil, err
	}
	rows := []Row{base.row}
	for _, cfg := range configs {
		r, err := measure(load, &cfg, eval, base)
		if err != nil {
			return nil, fmt.Errorf("quant: %s: %w", cfg.Name(), err)
		}
		rows = append(rows, r.row)
	}
	return rows, nil
}

// measured is a Row with the logits it was computed from.
type measured struct {
	row    Row
	logits []float32
}

func measure(load func() (models.Model, error), cfg *Config, eval Eval, base *measured) (*measured, error) {
	m, err := load()
	if err != nil {
		return nil, err
	}
	lm, ok := m.(models.CausalLM)
	if !ok {
		return nil, fmt.Errorf("quant: a report needs a causal language model, not %q", m.ModelType())
	}
	params := m.Params()
	dir, err := os.MkdirTemp("", "trustformers-quant-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := Row{Name: "fp32"}
	if cfg == nil {
		if err := m.Save(dir); err != nil {
			return nil, err
		}
	} else {
		r.Name = cfg.Name()
		q, err := Apply(params, *cfg)
		if err != nil {
			return nil, err
		}
		if err := Save(m, q, dir); err != nil {
			return nil, err
		}
	}
	for _, name := range params.Names() {
		r.WeightBytes += int(params.Variable(name).Shape().ByteSize())
	}
	if r.FileBytes, err = dirSize(dir); err != nil {
		return nil, err
	}
	out := &measured{row: r}
	for start := 0; start < len(eval.Inputs); start += eval.Batch {
		logits, err := forward(lm, eval.Inputs[start:min(start+eval.Batch, len(eval.Inputs))])
		if err != nil {
			return nil, err
		}
		out.logits = append(out.logits, logits...)
	}
	if base != nil {
		sum := 0.0
		for i, v := range out.logits {
			d := math.Abs(float64(v - base.logits[i]))
			sum += d
			out.row.MaxLogitError = max(out.row.MaxLogitError, d)
		}
		out.row.MeanLogitError = sum / float64(len(out.logits))
	}
	nll, count := 0.0, 0
	for start := 0; start < len(eval.Val); start += eval.Batch {
		seqs := eval.Val[start:min(start+eval.Batch, len(eval.Val))]
		logits, err := forward(lm, seqs)
		if err != nil {
			return nil, err
		}
		s, n := nextTokenNLL(logits, seqs)
		nll, count = nll+s, count+n
	}
	out.row.Perplexity = math.Exp(nll / float64(count))
	if base != nil {
		out.row.PerplexityIncrease = out.row.Perplexity/base.row.Perplexity - 1
	}
	return out, nil
}

// forward returns the flat [B, T, vocab] logits of seqs.
func forward(lm models.CausalLM, seqs [][]int32) ([]float32, error) {
	out, err := lm.Forward(modeling.Batch{IDs: seqs}, modeling.ForwardOptions{})
	if err != nil {
		return nil, err
	}
	return tensors.CopyFlatData[float32](out.Logits)
}

// nextTokenNLL sums -log p(seq[t+1] | seq[..t]) over every position of
// seqs, from flat [B, T, vocab] logits, and returns the sum and the count.
func nextTokenNLL(logits []float32, seqs [][]int32) (float64, int) {
	T := len(seqs[0])
	vocab := len(logits) / (len(seqs) * T)
	sum, n := 0.0, 0
	for b, seq := range seqs {
		for t := 0; t+1 < T; t++ {
			row := logits[(b*T+t)*vocab : (b*T+t+1)*vocab]
			mx := float64(row[0])
			for _, v := range row {
				mx = max(mx, float64(v))
			}
			z := 0.0
			for _, v := range row {
				z += math.Exp(float64(v) - mx)
			}
			sum += mx + math.Log(z) - float64(row[seq[t+1]])
			n++
		}
	}
	return sum, n
}

// dirSize returns the total size of the files in dir.
func dirSize(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, err
		}
		n += info.Size()
	}
	return n, nil
}

// FormatReport returns rows as a Markdown table.
func FormatReport(rows []Row) string {
	var b strings.Builder
	b.WriteString("| scheme | file | weights in memory | max abs Δlogit | mean abs Δlogit | perplexity | Δ perplexity |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		delta, maxErr, meanErr := "—", "—", "—"
		if r.Name != "fp32" {
			delta = fmt.Sprintf("%+.2f%%", 100*r.PerplexityIncrease)
			maxErr, meanErr = fmt.Sprintf("%.4f", r.MaxLogitError), fmt.Sprintf("%.5f", r.MeanLogitError)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.4f | %s |\n", r.Name, size(r.FileBytes), size(int64(r.WeightBytes)),
			maxErr, meanErr, r.Perplexity, delta)
	}
	return b.String()
}

// size formats a byte count.
func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
