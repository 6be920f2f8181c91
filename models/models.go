// Package models loads any supported model by its config.json's model_type:
// GPT-2, BERT, LLaMA (1, 2, 3) and Mistral, from a Hugging Face model folder,
// a model name found in (or downloaded into) the Hugging Face cache, or a
// llama2.c checkpoint.
//
//	backend := xla.MustNew("")
//	m, err := models.Load("path/to/gpt2", backend)
//	lm := m.(models.CausalLM) // gpt2, llama and mistral models are causal LMs
//
// Each family lives in its own package (models/gpt2, models/bert,
// models/llama) with its config, its network in one file and its weight
// names; models/modeling holds what they share.
package models

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Model is any loaded model: a *gpt2.Model, *bert.Model or *llama.Model.
type Model interface {
	// ModelType is config.json's model_type.
	ModelType() string
	// Save writes config.json and model.safetensors to a folder that
	// Hugging Face Transformers (and Load) read back.
	Save(dir string) error
}

// CausalLM is a decoder-only language model: GPT-2, LLaMA, Mistral.
type CausalLM interface {
	Model
	Forward(b modeling.Batch, opts modeling.ForwardOptions) (*modeling.Output, error)
	NewCache(batch, maxLen int) (*modeling.Cache, error)
	Step(c *modeling.Cache, ids [][]int32, mask [][]int32) (*tensors.Tensor, error)
	// ContextLength is the most tokens a sequence may hold (0: no limit).
	ContextLength() int
}

// Supported lists the model_type values Load accepts.
var Supported = []string{"bert", "gpt2", "llama", "mistral"}

var (
	_ CausalLM = (*gpt2.Model)(nil)
	_ CausalLM = (*llama.Model)(nil)
	_ Model    = (*bert.Model)(nil)
)

// Load loads pathOrName onto backend: a Hugging Face model folder
// (config.json and model.safetensors, or a sharded
// model.safetensors.index.json), a llama2.c checkpoint (a .bin file), or a
// model name such as "gpt2" or "org/name" resolved through the Hugging Face
// cache (see Resolve). The family comes from config.json's model_type.
func Load(pathOrName string, backend compute.Backend) (Model, error) {
	if info, err := os.Stat(pathOrName); err == nil && !info.IsDir() {
		if strings.HasSuffix(pathOrName, ".bin") {
			return llama.LoadLlama2C(pathOrName, backend)
		}
		return nil, fmt.Errorf("%s: a model is a folder holding config.json (or a llama2.c .bin file)", pathOrName)
	}
	dir, err := Resolve(pathOrName)
	if err != nil {
		return nil, err
	}
	modelType, err := modeling.ModelType(dir)
	if err != nil {
		return nil, err
	}
	switch modelType {
	case "gpt2":
		return gpt2.Load(dir, backend)
	case "bert":
		return bert.Load(dir, backend)
	case "llama", "mistral":
		return llama.Load(dir, backend)
	}
	return nil, fmt.Errorf("%s: model_type %q is not supported (supported: %s)",
		filepath.Join(dir, modeling.ConfigFile), modelType, strings.Join(Supported, ", "))
}
