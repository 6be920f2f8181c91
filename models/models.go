// Package models loads any supported model by its config.json's model_type:
// GPT-2, BERT, LLaMA (1, 2, 3), Mistral, Qwen2/Qwen3, Gemma 2/Gemma 3,
// Phi-3, Mixtral and Mamba, from a Hugging Face model folder,
// a model name found in (or downloaded into) the Hugging Face cache, a
// llama2.c checkpoint, or a llama.cpp GGUF file of an architecture a family
// reads ("llama", "gemma3", "qwen2", "qwen3", "phi3").
//
//	backend := xla.MustNew("")
//	lm, err := models.LoadCausalLM("path/to/qwen3", backend) // any decoder
//	m, err := models.Load("path/to/bert", backend)           // any family
//
// Each family lives in its own package (models/gpt2, models/bert,
// models/llama, models/qwen, models/gemma, models/phi3, models/mixtral,
// models/mamba) with its config, its network in one file and its weight
// names; models/modeling holds what they share. Load finds the family by
// model_type in a registry: this package registers the built-in families,
// and Register adds one written outside the module.
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
	"github.com/trustformers/trustformers-go/models/mamba"
	"github.com/trustformers/trustformers-go/models/mixtral"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/phi3"
	"github.com/trustformers/trustformers-go/models/qwen"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is any loaded model: a *gpt2.Model, *bert.Model, *llama.Model or a
// registered family's.
type Model interface {
	// ModelType is config.json's model_type.
	ModelType() string
	// Save writes config.json and model.safetensors to a folder that
	// Hugging Face Transformers (and Load) read back.
	Save(dir string) error
	// Params returns the model's weights, which quantization, LoRA and
	// training work on.
	Params() *modeling.Params
}

// CausalLM is a decoder-only language model: GPT-2, LLaMA, Mistral, Qwen,
// Gemma, Phi-3, Mixtral, Mamba.
type CausalLM interface {
	Model
	Forward(b modeling.Batch, opts modeling.ForwardOptions) (*modeling.Output, error)
	NewCache(batch, maxLen int) (*modeling.Cache, error)
	Step(c *modeling.Cache, ids [][]int32, mask [][]int32) (*tensors.Tensor, error)
	// ContextLength is the most tokens a sequence may hold (0: no limit).
	ContextLength() int
}

// GGUFSaver is a model that writes itself as a llama.cpp GGUF file
// (*gpt2.Model, *llama.Model): tensorType is "f32", "f16", "q8_0" or
// "q4_0", extra metadata entries (a tokenizer's, say) are added.
type GGUFSaver interface {
	SaveGGUF(path, tensorType string, extra ...weights.GGUFKV) error
}

var (
	_ GGUFSaver = (*gpt2.Model)(nil)
	_ GGUFSaver = (*llama.Model)(nil)
)

var (
	_ CausalLM = (*gpt2.Model)(nil)
	_ CausalLM = (*llama.Model)(nil)
	_ CausalLM = (*qwen.Model)(nil)
	_ CausalLM = (*phi3.Model)(nil)
	_ CausalLM = (*mixtral.Model)(nil)
	_ CausalLM = (*mamba.Model)(nil)
	_ Model    = (*bert.Model)(nil)
)

// Load loads pathOrName onto backend: a Hugging Face model folder
// (config.json and model.safetensors, or a sharded
// model.safetensors.index.json), a llama2.c checkpoint (a .bin file), a
// llama.cpp GGUF file (a .gguf file, read by the family registered for its
// general.architecture — llama.LoadGGUF for "llama", gemma.LoadGGUF for
// "gemma3", qwen.LoadGGUF for "qwen2" and "qwen3", phi3.LoadGGUF for "phi3"
// — its block-quantized tensors kept as codes, see LoadWith), or a model
// name such as "gpt2" or
// "org/name" resolved through the Hugging Face cache (see Resolve). The
// family comes from config.json's model_type.
func Load(pathOrName string, backend compute.Backend) (Model, error) {
	return LoadWith(pathOrName, backend, modeling.LoadOptions{})
}

// LoadWith is Load with options, as Hugging Face's from_pretrained takes
// torch_dtype: opts.DType "float32" dequantizes a GGUF file's
// block-quantized tensors at load, where the default ("" or "auto") keeps
// them as codes and scales (Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K; about the
// file's size in memory) and dequantizes them inside every graph, to the
// same float32 values. Other checkpoints load as Load loads them.
func LoadWith(pathOrName string, backend compute.Backend, opts modeling.LoadOptions) (Model, error) {
	if err := opts.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", pathOrName, err)
	}
	if info, err := os.Stat(pathOrName); err == nil && !info.IsDir() {
		if strings.HasSuffix(pathOrName, ".bin") {
			return llama.LoadLlama2C(pathOrName, backend)
		}
		if strings.HasSuffix(pathOrName, ".gguf") {
			return loadGGUF(pathOrName, backend, opts)
		}
		return nil, fmt.Errorf("%s: a model is a folder holding config.json (or a llama2.c .bin or GGUF .gguf file)", pathOrName)
	}
	dir, err := Resolve(pathOrName)
	if err != nil {
		return nil, err
	}
	method, err := QuantMethod(dir)
	if err != nil {
		return nil, err
	}
	if method != "" {
		if method != QuantMethodTrustformers {
			return nil, fmt.Errorf("%s: quantization_config.quant_method %q is not supported (only %q, written by the quant package)",
				filepath.Join(dir, modeling.ConfigFile), method, QuantMethodTrustformers)
		}
		if loadQuantized == nil {
			return nil, fmt.Errorf("%s: a quantized model: import github.com/trustformers/trustformers-go/quant to load it",
				filepath.Join(dir, modeling.ConfigFile))
		}
		return loadQuantized(dir, backend)
	}
	f, err := familyOf(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return f.New(dir, set, backend)
}

// LoadCausalLM is Load (LoadWith, given options) for a causal language
// model (gpt2, llama, mistral, or a registered family whose models
// generate): an encoder such as BERT is an error naming its model_type.
func LoadCausalLM(pathOrName string, backend compute.Backend, opts ...modeling.LoadOptions) (CausalLM, error) {
	o, err := modeling.FirstOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pathOrName, err)
	}
	m, err := LoadWith(pathOrName, backend, o)
	if err != nil {
		return nil, err
	}
	lm, ok := m.(CausalLM)
	if !ok {
		return nil, fmt.Errorf("%s: model_type %q is not a causal language model (it has no Step to generate with)", pathOrName, m.ModelType())
	}
	return lm, nil
}

// FromWeights builds the model that dir/config.json describes from the
// checkpoint tensors in set (instead of dir's own weight files).
func FromWeights(dir string, set *weights.Set, backend compute.Backend) (Model, error) {
	f, err := familyOf(dir)
	if err != nil {
		return nil, err
	}
	return f.New(dir, set, backend)
}

// NewRandom builds the model that dir/config.json describes with freshly
// initialized weights drawn from seed (the family's own initialization, as
// Hugging Face's _init_weights), for training from scratch.
func NewRandom(dir string, seed uint64, backend compute.Backend) (Model, error) {
	f, err := familyOf(dir)
	if err != nil {
		return nil, err
	}
	if f.Random == nil {
		return nil, fmt.Errorf("%s: model_type %v has no random initializer", filepath.Join(dir, modeling.ConfigFile), f.ModelTypes)
	}
	return f.Random(dir, seed, backend)
}

// QuantMethodTrustformers is the quantization_config.quant_method of the
// folders the quant package writes.
const QuantMethodTrustformers = "trustformers"

// QuantMethod returns config.json's quantization_config.quant_method in
// dir, or "" for a model that is not quantized.
func QuantMethod(dir string) (string, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	var c struct {
		Quantization *struct {
			Method string `json:"quant_method"`
		} `json:"quantization_config"`
	}
	if err := modeling.ReadConfig(path, &c); err != nil {
		return "", err
	}
	if c.Quantization == nil {
		return "", nil
	}
	if c.Quantization.Method == "" {
		return "", fmt.Errorf("%s: quantization_config has no quant_method", path)
	}
	return c.Quantization.Method, nil
}

// loadQuantized loads a folder the quant package wrote; set by
// RegisterQuantized.
var loadQuantized func(dir string, backend compute.Backend) (Model, error)

// RegisterQuantized makes Load read quantized model folders with load. The
// quant package registers itself when imported; models cannot import it
// (quant builds on models).
func RegisterQuantized(load func(dir string, backend compute.Backend) (Model, error)) {
	loadQuantized = load
}
