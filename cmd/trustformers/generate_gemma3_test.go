package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestGenerateGemma3GGUF generates from the real Gemma 3 270M GGUF with a
// text prompt: the model (architecture "gemma3") and its SentencePiece
// tokenizer both come from the file, and the greedy continuation is
// transformers' (models/testdata/gemma3-270m/reference.safetensors).
func TestGenerateGemma3GGUF(t *testing.T) {
	model := assets.RequireModel(t, assets.Gemma3)
	var out, errOut bytes.Buffer
	prompt := "Once upon a time, in a small village by the sea, there lived"
	args := []string{"generate", "--backend", "go", "--model", model, "--prompt", prompt, "--temperature", "0", "--max-new-tokens", "6"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("generate exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), " a man named John.") {
		t.Errorf("greedy continuation of %q: %q, want transformers' %q in it", prompt, out.String(), " a man named John.")
	}
}
