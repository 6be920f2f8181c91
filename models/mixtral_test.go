package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Load reads Mixtral folders in both expert layouts as causal language
// models; an unknown model_type lists mixtral among the supported ones; a
// forward pass of a model without experts asked for router logits is an
// error.
func TestLoadMixtral(t *testing.T) {
	backend := golden.Backend(t)
	for _, folder := range []string{"model", "model-fused"} {
		lm, err := LoadCausalLM(filepath.Join(golden.Dir("mixtral"), folder), backend)
		if err != nil {
			t.Fatal(err)
		}
		if lm.ModelType() != "mixtral" {
			t.Errorf("%s: model type %q", folder, lm.ModelType())
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"t5"}`), 0o644)
	if _, err := Load(dir, backend); err == nil || !strings.Contains(err.Error(), "mixtral") {
		t.Errorf("unknown model type: err = %v", err)
	}
	dense, err := LoadCausalLM(filepath.Join(golden.Dir("llama"), "model"), backend)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dense.Forward(modeling.Batch{IDs: [][]int32{{1, 2, 3}}}, modeling.ForwardOptions{RouterLogits: true})
	if err == nil || !strings.Contains(err.Error(), "no mixture of experts") {
		t.Errorf("router logits of a model without experts: err = %v", err)
	}
}
