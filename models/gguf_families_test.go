package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/phi3"
	"github.com/trustformers/trustformers-go/models/qwen"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

// TestLoadGGUFFamilies loads, through Load, the tiny Qwen2, Qwen3 and Phi-3
// models that scripts/reference/gguf_families.py wrote as llama.cpp's
// converter writes them (with the gguf package's names and keys) and that
// transformers read back as the same models: each matches the golden
// outputs of Hugging Face's classes (full forward, padding, KV cache, left
// padding), and each file's tokenizer gives transformers' ids. qwen3_tied
// has sliding layers llama.cpp's qwen3 has no keys for: its file is
// compared with the folder's model with the windows off, as the script
// compares it.
func TestLoadGGUFFamilies(t *testing.T) {
	backend := golden.Backend(t)
	for _, tc := range []struct {
		family, modelType string
		tied              bool
	}{
		{"qwen2", "qwen2", false}, {"qwen3", "qwen3", false}, {"qwen3_tied", "qwen3", true},
		{"phi3/base", "phi3", false}, {"phi3/longrope", "phi3", true},
	} {
		t.Run(tc.family, func(t *testing.T) {
			path := filepath.Join(golden.Dir(tc.family), "model.gguf")
			m, err := Load(path, backend)
			if err != nil {
				t.Fatalf("Load(%s): %v", path, err)
			}
			var d *modeling.Decoder
			switch m := m.(type) {
			case *qwen.Model:
				d = m.Decoder
				if m.Config.TieWordEmbeddings != tc.tied {
					t.Errorf("tie_word_embeddings %v", m.Config.TieWordEmbeddings)
				}
			case *phi3.Model:
				d = m.Decoder
				if m.Config.TieWordEmbeddings != tc.tied {
					t.Errorf("tie_word_embeddings %v", m.Config.TieWordEmbeddings)
				}
			}
			if d == nil || m.ModelType() != tc.modelType {
				t.Fatalf("Load(%s) gave a %T of type %q", path, m, m.ModelType())
			}
			if tc.family == "qwen3_tied" {
				checkWindowless(t, d)
			} else {
				decodetest.CheckGolden(t, tc.family, d)
			}
			checkGGUFTokens(t, path)
		})
	}
}

// checkWindowless compares the logits of d with those of qwen3_tied's
// folder model with its sliding windows off, on the golden input.
func checkWindowless(t *testing.T, d *modeling.Decoder) {
	t.Helper()
	dir := filepath.Join(golden.Dir("qwen3_tied"), "model")
	cfg, err := qwen.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.UseSlidingWindow, cfg.LayerTypes = false, nil
	set, err := weights.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := qwen.New(cfg, set, d.Backend)
	if err != nil {
		t.Fatal(err)
	}
	ids := golden.IDs(t, golden.Load(t, "qwen3_tied"), "input_ids")
	w, err := want.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := d.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff, _, err := golden.MaxAbsDiff(g.Logits, w.Logits); err != nil || diff > 1e-4 {
		t.Errorf("logits differ from the windowless folder model's by %v (%v)", diff, err)
	}
}

// checkGGUFTokens checks the tokenizer of the GGUF file path against the
// ids transformers' tokenizer gave (gguf_tokens.json beside the file).
func checkGGUFTokens(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(path), "gguf_tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ IDs map[string][]int32 }
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	for text, ids := range want.IDs {
		if got := tok.Encode(text); !slices.Equal(got, ids) {
			t.Errorf("Encode(%q) = %v, transformers %v", text, got, ids)
		}
	}
}
