package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
)

// FuzzConfig loads any config.json beside a small real checkpoint (the
// golden GPT-2's, LLaMA's or BERT's, whichever family the config names):
// it loads, or fails with an error naming config.json, the checkpoint or a
// tensor, and never panics. The configs' sizes are bounded and checked
// against the checkpoint before anything is allocated, so no input
// exhausts memory.
func FuzzConfig(f *testing.F) {
	for _, family := range []string{"gpt2", "llama", "llama3", "mistral", "bert"} {
		data, err := os.ReadFile(filepath.Join(golden.Dir(family), "model", "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"model_type": "gpt2", "vocab_size": 96, "n_positions": 64, "n_embd": 32, "n_layer": 1000000000, "n_head": 4}`))
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 96, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "rms_norm_eps": -1, "max_position_embeddings": -1}`))
	f.Add([]byte(`{"model_type": "bert", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 3}`))
	f.Add([]byte(`{"model_type": "t5"}`))
	f.Add([]byte(`[]`))
	backend := golden.Backend(f)
	f.Fuzz(func(t *testing.T, config []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
			t.Fatal(err)
		}
		family := "gpt2" // the first model type the config names, in this order
		for _, mt := range []string{"gpt2", "llama", "mistral", "bert"} {
			if strings.Contains(string(config), `"`+mt+`"`) {
				family = mt
				break
			}
		}
		weights, err := os.ReadFile(filepath.Join(golden.Dir(family), "model", "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), weights, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(dir, backend)
		if err != nil {
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error names neither the config nor the checkpoint: %v", err)
			}
			return
		}
		if m.ModelType() == "" {
			t.Errorf("a model without a type loaded")
		}
	})
}
