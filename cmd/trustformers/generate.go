package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

func init() {
	commands["generate"] = command{"generate text (or token ids) from a causal language model", runGenerate}
}

// runGenerate implements `trustformers generate`.
func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", "--model PATH [--tokenizer PATH] [--prompt TEXT | --prompt - | --prompt-file PATH] [--mesh data=2 [--strategy tensor]] [flags]", stderr)
	modelPath := fs.String("model", "", "model folder, Hub name, llama2.c .bin checkpoint or GGUF .gguf file (required)")
	tokPath := fs.String("tokenizer", "", "tokenizer file or folder (default: the model folder, when it holds one)")
	prompt := fs.String("prompt", "", "prompt text (needs a tokenizer), or - to read it from standard input; without one, generation starts from BOS")
	promptFile := fs.String("prompt-file", "", "read the prompt from this file (for long prompts)")
	maxNew := fs.Int("max-new-tokens", 64, "most tokens to generate")
	temperature := fs.Float64("temperature", 0.8, "sampling temperature; 0 is greedy")
	topK := fs.Int("top-k", 0, "sample among the K most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0, "sample within the top-p probability mass (0: all)")
	seed := fs.Uint64("seed", 0, "sampler seed")
	idsOnly := fs.Bool("print-ids", false, "print the generated token ids on one line, space-separated")
	chat := fs.Bool("chat", false, "send --prompt as one user message through the tokenizer's chat template (with the assistant's turn opened) and print the answer")
	backendSpec := fs.String("backend", "", "backend spec (default: xla.New's choice)")
	var layout lab.Parallel
	lab.Flags(fs, &layout)
	dtype := fs.String("dtype", "auto", "precision the weights are held in, as torch_dtype: auto keeps a GGUF file's Q8_0/Q4_0/Q4_1/Q5_0/Q4_K/Q6_K tensors as codes (about the file's size), float32 dequantizes them at load (faster to decode until a fused low-bit product lands)")
	var ids idPrompt
	fs.IntVar(&ids.bos, "bos", 0, "start from this token id when there is no prompt (default: the model's BOS, from config.json, generation_config.json or the GGUF header)")
	fs.StringVar(&ids.promptIDs, "prompt-ids", "", `the prompt as token ids, "1 2 3" (no tokenizer needed); the new ids are printed`)
	if err := fs.Parse(args); err != nil {
		return &lab.FlagError{Err: err}
	}
	if *modelPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if err := readPrompt(prompt, *promptFile); err != nil {
		return err
	}
	if err := layout.Check("flags", 0); err != nil {
		return err
	}
	backend, err := layout.Backend(*backendSpec)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	fs.Visit(func(f *flag.Flag) { ids.bosSet = ids.bosSet || f.Name == "bos" })
	if *maxNew < 0 {
		return fmt.Errorf("--max-new-tokens is %d; it must be 0 or more", *maxNew)
	}
	if err := checkIDFlags(ids, *prompt); err != nil {
		return err
	}
	lm, err := models.LoadCausalLM(*modelPath, backend, modeling.LoadOptions{DType: *dtype})
	if err != nil {
		return err
	}
	if err := layout.Shard(backend, lm.Params()); err != nil {
		return err
	}
	tok, err := findTokenizer(*tokPath, *modelPath)
	if err != nil {
		return err
	}

	opts := generate.Options{MaxNewTokens: *maxNew, Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed}
	if tok == nil && *prompt != "" {
		return errors.New("--prompt needs a tokenizer (--tokenizer PATH), or give the prompt as --prompt-ids")
	}
	if tok == nil && *chat {
		return errors.New("--chat needs a tokenizer (--tokenizer PATH)")
	}
	if tok == nil || ids.promptIDs != "" || ids.bosSet {
		return generateFromIDs(lm, *modelPath, tok, ids, opts, *idsOnly, stdout, stderr)
	}
	return generateText(&generate.Generator{Model: lm, Tokenizer: tok}, *prompt, *chat, *idsOnly, opts, stdout)
}

// generateText continues prompt (or, with chat, answers it as a user
// message) and prints the prompt and its continuation, the answer, or with
// idsOnly the new token ids.
func generateText(g *generate.Generator, prompt string, chat, idsOnly bool, opts generate.Options, stdout io.Writer) error {
	var r *generate.Result
	var err error
	if chat {
		r, err = g.Chat([]tokenizer.Message{{Role: "user", Content: prompt}}, tokenizer.ChatOptions{}, opts)
	} else {
		r, err = g.Generate(prompt, opts)
	}
	if err != nil {
		return err
	}
	switch {
	case idsOnly:
		printIDs(stdout, r.IDs)
	case chat:
		fmt.Fprintln(stdout, r.Text)
	default:
		fmt.Fprintln(stdout, prompt+r.Text)
	}
	return nil
}

// printIDs prints ids on one line, space-separated.
func printIDs(w io.Writer, ids []int32) {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	fmt.Fprintln(w, strings.Join(parts, " "))
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
