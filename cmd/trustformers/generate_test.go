package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

func TestGenerateStories260KIsDeterministic(t *testing.T) {
	model := assets.Require(t, assets.Stories260K)
	args := []string{"generate", "--backend", "go", "--model", model, "--temperature", "0", "--max-new-tokens", "256", "--print-ids"}
	var first string
	for i := range 2 {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 {
			t.Fatalf("generate exited %d: %s", code, errOut.String())
		}
		ids := strings.Fields(out.String())
		if len(ids) == 0 || len(ids) > 256 {
			t.Fatalf("generate printed %d ids: %q", len(ids), out.String())
		}
		if i == 0 {
			first = out.String()
		} else if out.String() != first {
			t.Fatalf("two greedy runs differ:\n%s\n%s", first, out.String())
		}
	}
}

func TestGeneratePromptWithoutTokenizer(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"generate", "--backend", "go", "--model", assets.Require(t, assets.Stories260K), "--prompt", "Once"}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "--prompt needs a tokenizer") {
		t.Fatalf("prompt without tokenizer: exit %d, stderr %q", code, errOut.String())
	}
}

// TestGenerateGGUFWithItsTokenizer generates from the real SmolLM2 GGUF with
// a text prompt: the tokenizer comes from the file's metadata.
func TestGenerateGGUFWithItsTokenizer(t *testing.T) {
	model := assets.RequireModel(t, assets.SmolLM2)
	var out, errOut bytes.Buffer
	args := []string{"generate", "--backend", "go", "--model", model, "--prompt", "The capital of France is", "--temperature", "0", "--max-new-tokens", "3"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("generate exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Paris") {
		t.Errorf("greedy continuation of %q: %q, want Paris in it", "The capital of France is", out.String())
	}
}

// TestGenerateChat answers a prompt through the real SmolLM2's own chat
// template (in its GGUF file): the output is the answer alone.
func TestGenerateChat(t *testing.T) {
	model := assets.RequireModel(t, assets.SmolLM2)
	var out, errOut bytes.Buffer
	args := []string{"generate", "--backend", "go", "--model", model, "--chat", "--prompt", "What is the capital of France?", "--temperature", "0", "--max-new-tokens", "12"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("generate exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Paris") || strings.Contains(out.String(), "What is the capital") {
		t.Errorf("answer %q, want one naming Paris without the prompt", out.String())
	}
}
