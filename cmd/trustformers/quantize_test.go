package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// TestQuantizeGGUFCarriesTokenizer exports the golden GPT-2 (with its own
// byte-level BPE) and LLaMA (without a tokenizer) to GGUF: the first gets
// the tokenizer's metadata, the second a warning that llama.cpp needs one;
// BERT is refused with the families GGUF export serves.
func TestQuantizeGGUFCarriesTokenizer(t *testing.T) {
	out := filepath.Join(t.TempDir(), "gpt2.gguf")
	var stdout, stderr bytes.Buffer
	model := filepath.Join(golden.Dir("gpt2"), "pipeline")
	if code := run([]string{"quantize", "--backend", "go", "--model", model, "--scheme", "q8_0", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("quantize exited %d: %s", code, stderr.String())
	}
	_, info, err := weights.ReadGGUF(out)
	if err != nil {
		t.Fatal(err)
	}
	if arch, _ := info.MetaString("general.architecture"); arch != "gpt2" {
		t.Errorf("general.architecture %q, want gpt2", arch)
	}
	if tm, _ := info.MetaString("tokenizer.ggml.model"); tm != "gpt2" {
		t.Errorf("tokenizer.ggml.model %q, want gpt2 (the folder's vocab.json + merges.txt)", tm)
	}

	stdout.Reset()
	stderr.Reset()
	model = filepath.Join(golden.Dir("llama"), "model")
	if code := run([]string{"quantize", "--backend", "go", "--model", model, "--scheme", "f16", "--out", filepath.Join(t.TempDir(), "llama.gguf")}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "llama.cpp needs") {
		t.Errorf("LLaMA without a tokenizer: exit %d, stderr %q; want success and a warning", code, stderr.String())
	}
	stderr.Reset()
	model = filepath.Join(golden.Dir("bert"), "model")
	if code := run([]string{"quantize", "--backend", "go", "--model", model, "--scheme", "f16", "--out", filepath.Join(t.TempDir(), "bert.gguf")}, &stdout, &stderr); code == 0 ||
		!strings.Contains(stderr.String(), "GPT-2 and LLaMA families") {
		t.Errorf("BERT: exit %d, stderr %q", code, stderr.String())
	}
}
