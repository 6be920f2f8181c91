package llama

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// ggufNames maps Hugging Face weight names to llama.cpp's GGUF names.
var ggufNames = modeling.GGUFNames{
	Global: map[string]string{
		"model.embed_tokens.weight": "token_embd.weight",
		"model.norm.weight":         "output_norm.weight",
		"lm_head.weight":            "output.weight",
	},
	Layer: map[string]string{
		"input_layernorm.weight":          "attn_norm.weight",
		"self_attn.q_proj.weight":         "attn_q.weight",
		"self_attn.k_proj.weight":         "attn_k.weight",
		"self_attn.v_proj.weight":         "attn_v.weight",
		"self_attn.o_proj.weight":         "attn_output.weight",
		"post_attention_layernorm.weight": "ffn_norm.weight",
		"mlp.gate_proj.weight":            "ffn_gate.weight",
		"mlp.up_proj.weight":              "ffn_up.weight",
		"mlp.down_proj.weight":            "ffn_down.weight",
		"self_attn.q_proj.bias":           "attn_q.bias",
		"self_attn.k_proj.bias":           "attn_k.bias",
		"self_attn.v_proj.bias":           "attn_v.bias",
		"self_attn.o_proj.bias":           "attn_output.bias",
		"mlp.gate_proj.bias":              "ffn_gate.bias",
		"mlp.up_proj.bias":                "ffn_up.bias",
		"mlp.down_proj.bias":              "ffn_down.bias",
	},
}

// ggufName returns the GGUF name of the Hugging Face weight name.
func ggufName(name string) string { return ggufNames.Name(name) }

// rotaryHeads returns the number of heads whose rows the weight name holds
// when it is a query or key projection (weight or bias), whose rows llama.cpp
// permutes, and 0 otherwise.
func rotaryHeads(c *Config, name string) int {
	switch {
	case strings.Contains(name, ".self_attn.q_proj."):
		return c.NumAttentionHeads
	case strings.Contains(name, ".self_attn.k_proj."):
		return c.NumKeyValueHeads
	}
	return 0
}

// unpermute returns, for modeling.GGUFLayout, the permutation that brings
// the query and key rows of a GGUF file, which llama.cpp's converter
// permutes into interleaved rotary pairs, back to Hugging Face's halves.
func unpermute(c *Config) func(modeling.Spec) func([]float32) []float32 {
	return func(s modeling.Spec) func([]float32) []float32 {
		heads := rotaryHeads(c, s.Name)
		if heads == 0 {
			return nil
		}
		cols := 1
		if len(s.Dims) == 2 {
			cols = s.Dims[1]
		}
		return func(values []float32) []float32 { return weights.PermuteToHalves(values, heads, c.HeadDim(), cols) }
	}
}

// LoadGGUF reads a llama.cpp GGUF file of the "llama" architecture (LLaMA 1,
// 2 and 3, Mistral, TinyLlama, ...) onto backend. The config comes from the
// file's metadata: llama.embedding_length, llama.block_count,
// llama.feed_forward_length, llama.attention.head_count,
// llama.context_length and llama.attention.layer_norm_rms_epsilon are
// required; llama.attention.head_count_kv (default: head_count),
// llama.rope.freq_base (default 10000), llama.attention.key_length, linear
// llama.rope.scaling.* and tokenizer.ggml.bos/eos_token_id are read when
// present. The vocabulary size is token_embd.weight's row count; a file
// without output.weight ties the head to the embedding. The query and key
// rows, which llama.cpp's converter permutes into interleaved rotary pairs,
// are permuted back to Hugging Face's layout.
//
// The header is checked whole before any tensor is read (weights.ReadGGUF:
// the tensors' layout; here: the architecture, the config and the tensor
// list, which must hold every tensor the network uses and no other, as
// llama.cpp insists, so that a block_count that leaves blocks out, or
// another architecture's tensors, is an error naming them). Only the
// tensors the network uses are then read: 2-D tensors of the types Q8_0,
// Q4_0, Q4_1, Q5_0, Q4_K and Q6_K are kept as their codes and scales and
// dequantized inside every graph (the same float32 values), others read as
// float32; opts' DType "float32" dequantizes everything at load (see
// modeling.LoadOptions).
func LoadGGUF(path string, backend compute.Backend, opts ...modeling.LoadOptions) (*Model, error) {
	opt, err := modeling.FirstOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	set, info, err := weights.ReadGGUF(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ggufConfig(info, set)
	if err != nil {
		return nil, err
	}
	sp, err := specs(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	layout := modeling.GGUFLayout{GGUFNames: ggufNames, Options: opt, Fix: unpermute(cfg), BlockCount: "llama.block_count", Blocks: cfg.NumHiddenLayers}
	hf, err := layout.Weights(set, info, sp)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, hf, backend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ggufConfig builds the config from the metadata of a GGUF file and the
// tensors it holds.
func ggufConfig(info *weights.GGUFInfo, set *weights.Set) (*Config, error) {
	arch, err := info.MetaString("general.architecture")
	if err != nil {
		return nil, err
	}
	if arch != "llama" {
		return nil, fmt.Errorf("%s: general.architecture is %q; LoadGGUF reads \"llama\" files", info.Path, arch)
	}
	if set.Has("rope_freqs.weight") {
		return nil, fmt.Errorf("%s: tensor \"rope_freqs.weight\" (per-frequency rotary factors, as Llama 3.1's rope scaling is converted) is not supported", info.Path)
	}
	cfg := &Config{ModelType: "llama", Architectures: []string{"LlamaForCausalLM"}, HiddenAct: "silu", TorchDtype: "float32"}
	m := &modeling.GGUFMeta{Info: info}
	m.Int("llama.embedding_length", &cfg.HiddenSize, true)
	m.Int("llama.block_count", &cfg.NumHiddenLayers, true)
	m.Int("llama.feed_forward_length", &cfg.IntermediateSize, true)
	m.Int("llama.attention.head_count", &cfg.NumAttentionHeads, true)
	m.Int("llama.context_length", &cfg.MaxPositionEmbeddings, true)
	m.Float("llama.attention.layer_norm_rms_epsilon", &cfg.RMSNormEps, true)
	cfg.NumKeyValueHeads, cfg.RopeTheta = cfg.NumAttentionHeads, 10000
	m.Int("llama.attention.head_count_kv", &cfg.NumKeyValueHeads, false)
	m.Float("llama.rope.freq_base", &cfg.RopeTheta, false)
	headDim, ropeDims, bos, eos := 0, 0, -1, -1
	m.Int("llama.attention.key_length", &headDim, false)
	m.Int("llama.rope.dimension_count", &ropeDims, false)
	m.Int("tokenizer.ggml.bos_token_id", &bos, false)
	m.Int("tokenizer.ggml.eos_token_id", &eos, false)
	if m.Err != nil {
		return nil, m.Err
	}
	if cfg.RopeScaling, err = modeling.GGUFRopeScaling(info, "llama"); err != nil {
		return nil, err
	}
	if headDim > 0 && cfg.NumAttentionHeads > 0 && headDim != cfg.HiddenSize/cfg.NumAttentionHeads {
		cfg.HeadDimField = headDim
	}
	if bos >= 0 {
		cfg.BosTokenID = &bos
	}
	if eos >= 0 {
		cfg.EosTokenID = float64(eos)
	}
	embd, ok := info.Tensor("token_embd.weight")
	if !ok || len(embd.Dims) != 2 {
		return nil, fmt.Errorf("%s: tensor \"token_embd.weight\" missing or not 2-D", info.Path)
	}
	cfg.VocabSize = embd.Dims[0]
	cfg.TieWordEmbeddings = !set.Has("output.weight")
	cfg.AttentionBias = set.Has("blk.0.attn_q.bias")
	cfg.MLPBias = set.Has("blk.0.ffn_gate.bias")
	if err := cfg.check(info.Path); err != nil {
		return nil, err
	}
	if ropeDims > 0 && ropeDims != cfg.HeadDim() {
		return nil, fmt.Errorf("%s: metadata key \"llama.rope.dimension_count\" is %d; rotary embeddings over part of a head (head size %d) are not supported",
			info.Path, ropeDims, cfg.HeadDim())
	}
	return cfg, nil
}

// SaveGGUF writes the model to path as a GGUF file of the "llama"
// architecture, the inverse of LoadGGUF: tensors under llama.cpp's names,
// the query and key rows permuted into GGML's interleaved rotary pairs, and
// the metadata LoadGGUF reads plus general.architecture, general.name (the
// file's base name), general.alignment and general.file_type. tensorType is
// "f32", "f16", "q8_0" or "q4_0" (ggml's reference quantizers): the 2-D
// weights, the embedding included, are written in it, except those whose
// rows are not a whole number of 32-value blocks, which stay F32 (as
// stories260K's down projections, with 172 columns, do); norms and biases
// are always F32. extra entries are added to the metadata, replacing
// entries of the same key: pass the tokenizer's (tokenizer.GGUFMetadata),
// which llama.cpp needs to run the file. Llama 3.1 rope scaling and
// Mistral's sliding window have no llama GGUF keys, and are errors.
func (m *Model) SaveGGUF(path string, tensorType string, extra ...weights.GGUFKV) error {
	typ, err := weights.ParseGGUFType(tensorType)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c := m.Config
	switch {
	case c.Window() != 0:
		return fmt.Errorf("%s: sliding_window %d has no GGUF llama metadata key", path, c.Window())
	case c.RopeScaling.Kind() != "default" && c.RopeScaling.Kind() != "linear":
		return fmt.Errorf("%s: rope_scaling %q has no GGUF llama metadata key", path, c.RopeScaling.Kind())
	case c.HiddenAct != "silu":
		return fmt.Errorf("%s: hidden_act %q: GGUF llama files use silu", path, c.HiddenAct)
	}
	set, err := m.Params().Weights()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sp, err := specs(c)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var ts []weights.GGUFTensor
	for _, s := range sp {
		values, err := set.Float32Values(s.Name, s.Dims...)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		cols := s.Dims[len(s.Dims)-1]
		if heads := rotaryHeads(c, s.Name); heads > 0 {
			if len(s.Dims) == 1 {
				cols = 1
			}
			values = weights.PermuteToPairs(values, heads, c.HeadDim(), cols)
		}
		wt := typ
		if len(s.Dims) == 1 || cols%32 != 0 {
			wt = weights.GGUFF32
		}
		ts = append(ts, weights.GGUFTensor{Name: ggufName(s.Name), Type: wt, Dims: s.Dims, Values: values})
	}
	u := func(n int) uint32 { return uint32(n) }
	meta := []weights.GGUFKV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "general.name", Value: strings.TrimSuffix(filepath.Base(path), ".gguf")},
		{Key: "general.alignment", Value: uint32(weights.GGUFAlignment)},
		{Key: "general.file_type", Value: weights.GGUFFileType(typ)},
		{Key: "llama.vocab_size", Value: u(c.VocabSize)},
		{Key: "llama.context_length", Value: u(c.MaxPositionEmbeddings)},
		{Key: "llama.embedding_length", Value: u(c.HiddenSize)},
		{Key: "llama.block_count", Value: u(c.NumHiddenLayers)},
		{Key: "llama.feed_forward_length", Value: u(c.IntermediateSize)},
		{Key: "llama.rope.dimension_count", Value: u(c.HeadDim())},
		{Key: "llama.attention.head_count", Value: u(c.NumAttentionHeads)},
		{Key: "llama.attention.head_count_kv", Value: u(c.NumKeyValueHeads)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(c.RMSNormEps)},
		{Key: "llama.rope.freq_base", Value: float32(c.RopeTheta)},
	}
	if c.HeadDimField > 0 {
		meta = append(meta, weights.GGUFKV{Key: "llama.attention.key_length", Value: u(c.HeadDim())},
			weights.GGUFKV{Key: "llama.attention.value_length", Value: u(c.HeadDim())})
	}
	if c.RopeScaling.Kind() == "linear" {
		meta = append(meta, weights.GGUFKV{Key: "llama.rope.scaling.type", Value: "linear"},
			weights.GGUFKV{Key: "llama.rope.scaling.factor", Value: float32(c.RopeScaling.Factor)})
	}
	if c.BosTokenID != nil {
		meta = append(meta, weights.GGUFKV{Key: "tokenizer.ggml.bos_token_id", Value: u(*c.BosTokenID)})
	}
	if eos := c.EOSTokenIDs(); len(eos) > 0 {
		meta = append(meta, weights.GGUFKV{Key: "tokenizer.ggml.eos_token_id", Value: u(eos[0])})
	}
	return weights.WriteGGUF(path, weights.WithGGUFKV(meta, extra...), ts)
}
