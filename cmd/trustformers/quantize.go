package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/quant"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

func init() {
	commands["quantize"] = command{"quantize a model's linear layers (int8, int4, nf4) or report what each scheme costs", runQuantize}
}

// runQuantize implements
//
//	trustformers quantize --model PATH --scheme int8|int4|nf4 [--group N] [--double-quant] [--modules a,b] --out DIR
//	trustformers quantize --model PATH --scheme q8_0|q4_0|f16|f32 [--tokenizer PATH] --out FILE.gguf
//	trustformers quantize --model PATH --report [--schemes int8,int4,nf4] [--group N] [--text FILE [--tokenizer PATH|char]]
//
// The first writes a quantized model folder that models.Load reads back;
// the second writes a GPT-2 or LLaMA-family model as a llama.cpp GGUF
// file, with the tokenizer's metadata (the model folder's, or --tokenizer's)
// so that llama.cpp runs it; the
// third prints, per scheme, the file size, the logit error against
// float32 and the validation perplexity (see quant.Report).
func runQuantize(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("quantize", "--model PATH (--scheme S --out DIR | --report) [flags]", stderr)
	modelPath := fs.String("model", "", "model folder, Hugging Face name, llama2.c .bin or GGUF .gguf")
	scheme := fs.String("scheme", "", "int8 (per output channel), int4 (groups, zero points) or nf4; for a .gguf --out: q8_0, q4_0, f16 or f32")
	group := fs.Int("group", 0, fmt.Sprintf("inputs per scale for int4 and nf4 (0: %d)", quant.DefaultGroupSize))
	doubleQuant := fs.Bool("double-quant", false, "nf4: quantize the block maxima again (QLoRA)")
	modules := fs.String("modules", "", "comma-separated linear layers to quantize (default: every linear layer in the blocks)")
	out := fs.String("out", "", "folder to write the quantized model to (a name ending in .gguf: a llama.cpp GGUF file, GPT-2 and LLaMA families)")
	report := fs.Bool("report", false, "measure every scheme in --schemes against float32 instead of writing a model")
	schemes := fs.String("schemes", "int8,int4,nf4", "--report: the schemes to measure")
	text := fs.String("text", "", "--report: text whose last 10% is the validation set (default: sequences sampled from the model)")
	tokPath := fs.String("tokenizer", "", `--report: tokenizer for --text ("char": nanoGPT's character vocabulary of the text; default: the model folder's); a .gguf --out: the tokenizer written into the file (default: the model folder's)`)
	seqs := fs.Int("seqs", 32, "--report: number of validation sequences")
	seqLen := fs.Int("seq-len", 64, "--report: tokens per sequence")
	bos := fs.Int("bos", 1, "--report without --text: the token that starts each sampled sequence")
	seed := fs.Uint64("seed", 1, "--report: seed of the sampled sequences")
	backendSpec := fs.String("backend", "", "backend spec (default: xla.New's choice)")
	if err := fs.Parse(args); err != nil {
		return &lab.FlagError{Err: err}
	}
	if *modelPath == "" || fs.NArg() > 0 || (*report == (*out != "")) {
		fs.Usage()
		return errUsage
	}
	base := quant.Config{GroupSize: *group, DoubleQuant: *doubleQuant}
	if *modules != "" {
		base.Modules = strings.Split(*modules, ",")
	}
	backend, err := xla.New(*backendSpec)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	// Quantizing starts from float32 weights: a GGUF file's blocks are
	// dequantized at load.
	load := func() (models.Model, error) {
		return models.LoadWith(*modelPath, backend, modeling.LoadOptions{DType: "float32"})
	}
	switch {
	case strings.HasSuffix(*out, ".gguf"):
		return quantizeGGUF(load, *modelPath, *tokPath, *scheme, *out, stdout, stderr)
	case !*report:
		return quantizeFolder(load, base, *scheme, *out, stdout)
	}
	configs, err := reportConfigs(base, *schemes)
	if err != nil {
		return err
	}
	eval, err := reportData(load, *text, *tokPath, *modelPath, *seqs, *seqLen, int32(*bos), *seed)
	if err != nil {
		return err
	}
	rows, err := quant.Report(load, configs, eval)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, quant.FormatReport(rows))
	return nil
}

// quantizeGGUF writes the model as a llama.cpp GGUF file of type scheme at
// out, with its tokenizer (tokPath, else the model folder's) in the
// metadata.
func quantizeGGUF(load func() (models.Model, error), modelPath, tokPath, scheme, out string, stdout, stderr io.Writer) error {
	m, err := load()
	if err != nil {
		return err
	}
	saver, ok := m.(models.GGUFSaver)
	if !ok {
		return fmt.Errorf("%s: GGUF export is for the GPT-2 and LLaMA families, not %q", modelPath, m.ModelType())
	}
	extra, err := ggufTokenizer(modelPath, tokPath)
	if err != nil {
		fmt.Fprintf(stderr, "trustformers quantize: %v; the GGUF has no tokenizer, which llama.cpp needs to run it\n", err)
	}
	if err := saver.SaveGGUF(out, scheme, extra...); err != nil {
		return err
	}
	info, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: GGUF %s, %.1f MiB\n", out, scheme, float64(info.Size())/(1<<20))
	return nil
}

// quantizeFolder quantizes the model's linear layers with scheme (and the
// rest of base) and writes the quantized model folder out.
func quantizeFolder(load func() (models.Model, error), base quant.Config, scheme, out string, stdout io.Writer) error {
	s, err := quant.ParseScheme(scheme)
	if err != nil {
		return err
	}
	base.Scheme = s
	m, err := load()
	if err != nil {
		return err
	}
	q, err := quant.Apply(m.Params(), base)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := quant.Save(m, q, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d weights quantized to %s, %.1f MiB of codes and scales\n",
		out, len(q.Weights), base.Name(), float64(q.Bytes())/(1<<20))
	return nil
}

// reportConfigs returns a report's configurations: base with each scheme of
// the comma-separated list, without the settings a scheme has no use for.
func reportConfigs(base quant.Config, schemes string) ([]quant.Config, error) {
	var configs []quant.Config
	for _, name := range strings.Split(schemes, ",") {
		s, err := quant.ParseScheme(name)
		if err != nil {
			return nil, err
		}
		c := base
		c.Scheme = s
		if !s.Grouped() {
			c.GroupSize, c.DoubleQuant = 0, false
		}
		if s != quant.NF4 {
			c.DoubleQuant = false
		}
		configs = append(configs, c)
	}
	return configs, nil
}

// reportData builds a report's sequences: windows of the last 10% of text
// (nanoGPT's validation split), or sequences sampled from the float model
// when there is no text.
func reportData(load func() (models.Model, error), text, tokPath, modelPath string, n, length int, bos int32, seed uint64) (quant.Eval, error) {
	if text == "" {
		m, err := load()
		if err != nil {
			return quant.Eval{}, err
		}
		lm, ok := m.(models.CausalLM)
		if !ok {
			return quant.Eval{}, fmt.Errorf("%s: a report needs a causal language model", modelPath)
		}
		return quant.SampledEval(lm, n, length, bos, seed)
	}
	data, err := os.ReadFile(text)
	if err != nil {
		return quant.Eval{}, err
	}
	var ids []int32
	if tokPath == "char" {
		if ids, err = training.NewCharVocab(string(data)).Encode(string(data)); err != nil {
			return quant.Eval{}, err
		}
	} else {
		if tokPath == "" {
			tokPath = modelPath
		}
		tok, err := tokenizer.Load(tokPath)
		if err != nil {
			return quant.Eval{}, err
		}
		ids = tok.EncodeWith(string(data), tokenizer.EncodeOptions{NoSpecialTokens: true})
	}
	eval, err := quant.TextEval(ids, n, length)
	if err != nil {
		return eval, fmt.Errorf("%s: %w", text, err)
	}
	return eval, nil
}

// ggufTokenizer returns the tokenizer.ggml.* metadata of the tokenizer at
// tokPath, else of the one in the model folder modelPath.
func ggufTokenizer(modelPath, tokPath string) ([]weights.GGUFKV, error) {
	if tokPath == "" {
		dir, err := models.Resolve(modelPath)
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s is not a model folder and --tokenizer is not set", modelPath)
		}
		tokPath = dir
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return nil, err
	}
	return tok.GGUFMetadata()
}
