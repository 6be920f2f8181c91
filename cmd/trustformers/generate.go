package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/xla"
)

func init() {
	commands["generate"] = command{"generate text (or token ids) from a causal language model", runGenerate}
}

// runGenerate implements `trustformers generate`.
func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", "--model PATH [--tokenizer PATH] [--prompt TEXT] [flags]", stderr)
	modelPath := fs.String("model", "", "model folder, Hub name, llama2.c .bin checkpoint or GGUF .gguf file (required)")
	tokPath := fs.String("tokenizer", "", "tokenizer file or folder (default: the model folder, when it holds one)")
	prompt := fs.String("prompt", "", "prompt text (needs a tokenizer); without one, generation starts from BOS")
	maxNew := fs.Int("max-new-tokens", 64, "most tokens to generate")
	temperature := fs.Float64("temperature", 0.8, "sampling temperature; 0 is greedy")
	topK := fs.Int("top-k", 0, "sample among the K most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0, "sample within the top-p probability mass (0: all)")
	seed := fs.Uint64("seed", 0, "sampler seed")
	printIDs := fs.Bool("print-ids", false, "print the generated token ids on one line, space-separated")
	backendSpec := fs.String("backend", "", "backend spec (default: xla.New's choice)")
	if err := fs.Parse(args); err != nil {
		return &lab.FlagError{Err: err}
	}
	if *modelPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	backend, err := xla.New(*backendSpec)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	lm, err := models.LoadCausalLM(*modelPath, backend)
	if err != nil {
		return err
	}
	tok, err := findTokenizer(*tokPath, *modelPath)
	if err != nil {
		return err
	}

	opts := generate.Options{MaxNewTokens: *maxNew, Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed}
	var ids []int32
	switch {
	case tok != nil:
		for _, id := range tok.Encode(*prompt) {
			ids = append(ids, int32(id))
		}
		if len(ids) == 0 && tok.Special.Has(tok.Special.BOS) {
			ids = []int32{int32(tok.Special.BOS)}
		}
		if len(ids) == 0 && tok.Special.Has(tok.Special.EOS) {
			ids = []int32{int32(tok.Special.EOS)} // GPT-2 starts unconditional text from <|endoftext|>
		}
		if tok.Special.Has(tok.Special.EOS) {
			opts.StopIDs = []int32{int32(tok.Special.EOS)}
		}
	case *prompt != "":
		return errors.New("--prompt needs a tokenizer (--tokenizer PATH)")
	default:
		// llama2.c's run: start from BOS (1) and stop when BOS comes again.
		ids = []int32{1}
		opts.StopIDs = []int32{1}
	}
	if len(ids) == 0 {
		return errors.New("empty prompt and the tokenizer has no BOS or EOS token to start from")
	}
	out, err := generate.Generate(lm, ids, opts)
	if err != nil {
		return err
	}
	if *printIDs || tok == nil {
		parts := make([]string, len(out))
		for i, id := range out {
			parts[i] = fmt.Sprint(id)
		}
		fmt.Fprintln(stdout, strings.Join(parts, " "))
		if *printIDs {
			return nil
		}
	}
	if tok != nil {
		all := make([]int, 0, len(out))
		for _, id := range out {
			all = append(all, int(id))
		}
		fmt.Fprintln(stdout, *prompt+tok.Decode(all, true))
	}
	return nil
}

// findTokenizer loads the tokenizer at path, or, when path is empty, the one
// in the model folder or GGUF file (nil when the model has none: a llama2.c
// file has no tokenizer beside it by default).
func findTokenizer(path, modelPath string) (*tokenizer.Tokenizer, error) {
	if path != "" {
		return tokenizer.Load(path)
	}
	dir, err := models.Resolve(modelPath)
	if err != nil {
		return nil, nil
	}
	if strings.HasSuffix(dir, ".gguf") { // the tokenizer in its metadata, when it has one
		info, err := weights.ReadGGUFInfo(dir)
		if err != nil {
			return nil, err
		}
		if _, ok := info.Meta("tokenizer.ggml.model"); !ok {
			return nil, nil
		}
		return tokenizer.LoadGGUF(dir)
	}
	for _, f := range []string{"tokenizer.json", "vocab.json", "encoder.json", "vocab.txt", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return tokenizer.Load(dir)
		}
	}
	return nil, nil
}
