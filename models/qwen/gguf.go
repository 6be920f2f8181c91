package qwen

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// GGUFArchitectures are the general.architecture values of the llama.cpp
// GGUF files LoadGGUF reads.
var GGUFArchitectures = []string{"qwen2", "qwen3"}

// ggufNames maps Hugging Face's Qwen2 and Qwen3 weight names to llama.cpp's.
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
		"self_attn.q_proj.bias":           "attn_q.bias",
		"self_attn.k_proj.bias":           "attn_k.bias",
		"self_attn.v_proj.bias":           "attn_v.bias",
		"self_attn.o_proj.bias":           "attn_output.bias",
		"self_attn.q_norm.weight":         "attn_q_norm.weight",
		"self_attn.k_norm.weight":         "attn_k_norm.weight",
		"post_attention_layernorm.weight": "ffn_norm.weight",
		"mlp.gate_proj.weight":            "ffn_gate.weight",
		"mlp.up_proj.weight":              "ffn_up.weight",
		"mlp.down_proj.weight":            "ffn_down.weight",
	},
}

// LoadGGUF reads a llama.cpp GGUF file of the "qwen2" (Qwen2, Qwen2.5) or
// "qwen3" architecture onto backend, as transformers' GGUF loader reads it
// into Qwen2ForCausalLM or Qwen3ForCausalLM. The config comes from the
// metadata (ARCH is the architecture): ARCH.embedding_length,
// .block_count, .feed_forward_length, .attention.head_count,
// .context_length and .attention.layer_norm_rms_epsilon are required;
// .attention.head_count_kv (default: head_count), .rope.freq_base (default
// 10000), .attention.key_length (the head size, as Qwen3's head_dim;
// default embedding_length / head_count), linear .rope.scaling.* and
// tokenizer.ggml.bos/eos/padding_token_id are read when present. The
// vocabulary size is token_embd.weight's row count; a file without
// output.weight ties the head to the embedding. Qwen2's q, k and v
// projections have biases; a Qwen3 file with attn_q.bias has Qwen3's
// attention_bias (all four projections), which llama.cpp does not run but
// its converter writes. llama.cpp has no sliding-window keys for these
// architectures: the model attends to every earlier token.
//
// llama.cpp's converter stores Qwen's weights unchanged (it permutes the
// query and key rows only for the "llama" architecture). The file must hold
// every tensor the network uses and no other.
// Of the tensors the network uses, 2-D tensors of the types Q8_0, Q4_0,
// Q4_1, Q5_0, Q4_K and Q6_K are kept as their codes and scales and
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
	m, err := declared(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sp, err := m.specs()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	layout := modeling.GGUFLayout{GGUFNames: ggufNames, Options: opt, BlockCount: cfg.ModelType + ".block_count", Blocks: cfg.NumHiddenLayers}
	hf, err := layout.Weights(set, info, sp)
	if err != nil {
		return nil, err
	}
	model, err := New(cfg, hf, backend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return model, nil
}

// ggufConfig builds the config from the metadata of a qwen2 or qwen3 GGUF
// file and the tensors it holds.
func ggufConfig(info *weights.GGUFInfo, set *weights.Set) (*Config, error) {
	arch, err := info.MetaString("general.architecture")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(GGUFArchitectures, arch) {
		return nil, fmt.Errorf("%s: general.architecture is %q; qwen.LoadGGUF reads %q files", info.Path, arch, GGUFArchitectures)
	}
	class := map[string]string{"qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}[arch]
	cfg := &Config{ModelType: arch, Architectures: []string{class}, HiddenAct: "silu", TorchDtype: "float32", RopeTheta: 10000}
	m := &modeling.GGUFMeta{Info: info}
	for _, k := range []struct {
		key   string
		field *int
	}{
		{"embedding_length", &cfg.HiddenSize}, {"block_count", &cfg.NumHiddenLayers}, {"feed_forward_length", &cfg.IntermediateSize},
		{"attention.head_count", &cfg.NumAttentionHeads}, {"context_length", &cfg.MaxPositionEmbeddings},
	} {
		m.Int(arch+"."+k.key, k.field, true)
	}
	m.Float(arch+".attention.layer_norm_rms_epsilon", &cfg.RMSNormEps, true)
	m.Int(arch+".attention.head_count_kv", &cfg.NumKeyValueHeads, false)
	m.Float(arch+".rope.freq_base", &cfg.RopeTheta, false)
	keyLength, valueLength, ropeDims, bos, eos, pad := 0, 0, 0, -1, -1, -1
	m.Int(arch+".attention.key_length", &keyLength, false)
	m.Int(arch+".attention.value_length", &valueLength, false)
	m.Int(arch+".rope.dimension_count", &ropeDims, false)
	m.Int("tokenizer.ggml.bos_token_id", &bos, false)
	m.Int("tokenizer.ggml.eos_token_id", &eos, false)
	m.Int("tokenizer.ggml.padding_token_id", &pad, false)
	if m.Err != nil {
		return nil, m.Err
	}
	if cfg.RopeScaling, err = modeling.GGUFRopeScaling(info, arch); err != nil {
		return nil, err
	}
	if valueLength != 0 && valueLength != keyLength {
		return nil, fmt.Errorf("%s: metadata key \"%s.attention.value_length\" is %d, not key_length %d", info.Path, arch, valueLength, keyLength)
	}
	// Qwen3Config's head_dim defaults to 128, llama.cpp's head size to
	// embedding_length / head_count: say it always.
	cfg.HeadDimField = keyLength
	if keyLength == 0 && cfg.NumAttentionHeads > 0 {
		cfg.HeadDimField = cfg.HiddenSize / cfg.NumAttentionHeads
	}
	for _, id := range []struct {
		v     int
		field **int
	}{{bos, &cfg.BosTokenID}, {pad, &cfg.PadTokenID}} {
		if id.v >= 0 {
			*id.field = &id.v
		}
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
	cfg.AttentionBias = arch == "qwen3" && set.Has("blk.0.attn_q.bias")
	if err := cfg.check(info.Path); err != nil {
		return nil, err
	}
	if ropeDims > 0 && ropeDims != cfg.HeadDim() {
		return nil, fmt.Errorf("%s: metadata key \"%s.rope.dimension_count\" is %d; rotary embeddings over part of a head (head size %d) are not supported",
			info.Path, arch, ropeDims, cfg.HeadDim())
	}
	return cfg, nil
}
