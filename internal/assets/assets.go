// Package assets locates the test assets that live outside the repository,
// in ../shared/data beside it (or the folder TRUSTFORMERS_DATA names): the
// Tiny Shakespeare corpus, GPT-2, BERT and LLaMA 2 tokenizer files, and the
// stories260K llama2.c checkpoint. `make assets` downloads them for users who
// are online.
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

// Dir returns the assets folder: $TRUSTFORMERS_DATA, else ../shared/data
// beside the repository this package was built from.
func Dir() string {
	if env := os.Getenv(EnvData); env != "" {
		return env
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("..", "shared", "data")
	}
	// file is <repo>/internal/assets/assets.go.
	repo := filepath.Dir(filepath.Dir(filepath.Dir(file)))
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
