package models

import (
	"path/filepath"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/llama"
)

func TestLoadGGUF(t *testing.T) {
	backend := golden.Backend(t)
	m, err := llama.Load(filepath.Join(golden.Dir("llama"), "model"), backend)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "llama.gguf")
	if err := m.SaveGGUF(path, "q8_0"); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path, backend)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if _, ok := back.(*llama.Model); !ok || back.ModelType() != "llama" {
		t.Errorf("Load(%s) gave a %T of type %q", path, back, back.ModelType())
	}
}
