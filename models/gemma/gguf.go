package gemma

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// GGUFArchitecture is the general.architecture of the llama.cpp GGUF files
// LoadGGUF reads: Gemma 3's text model.
const GGUFArchitecture = "gemma3"

// ggufNames maps Hugging Face's Gemma 3 weight names to llama.cpp's.
var ggufNames = modeling.GGUFNames{
	Global: map[string]string{
		"model.embed_tokens.weight": "token_embd.weight",
		"model.norm.weight":         "output_norm.weight",
		"lm_head.weight":            "output.weight",
	},
	Layer: map[string]string{
		"input_layernorm.weight":            "attn_norm.weight",
		"self_attn.q_proj.weight":           "attn_q.weight",
		"self_attn.k_proj.weight":           "attn_k.weight",
		"self_attn.v_proj.weight":           "attn_v.weight",
		"self_attn.o_proj.weight":           "attn_output.weight",
		"self_attn.q_norm.weight":           "attn_q_norm.weight",
		"self_attn.k_norm.weight":           "attn_k_norm.weight",
		"post_attention_layernorm.weight":   "post_attention_norm.weight",
		"pre_feedforward_layernorm.weight":  "ffn_norm.weight",
		"post_feedforward_layernorm.weight": "post_ffw_norm.weight",
		"mlp.gate_proj.weight":              "ffn_gate.weight",
		"mlp.up_proj.weight":                "ffn_up.weight",
		"mlp.down_proj.weight":              "ffn_down.weight",
	},
}

// LoadGGUF reads a llama.cpp GGUF file of the "gemma3" architecture (Gemma
// 3's text model) onto backend, as transformers' GGUF loader reads it into
// Gemma3ForCausalLM. The config comes from the metadata: gemma3.block_count,
// .embedding_length, .feed_forward_length, .context_length,
// .attention.head_count, .attention.head_count_kv, .attention.key_length,
// .attention.sliding_window and .attention.layer_norm_rms_epsilon are
// required; .rope.freq_base (the global layers' base; default 1e6) and
// linear .rope.scaling.* are read when present. What the file does not
// carry is Gemma 3's: every 6th layer global, the sliding layers' rotary
// base 10000, no soft caps. The vocabulary size is token_embd.weight's row
// count; a file without output.weight ties the head to the embedding.
//
// llama.cpp's converter stores every RMSNorm weight w (the q/k norms
// included) as 1 + w, since llama.cpp multiplies by the weight as it is;
// 1 is subtracted again here (in float32, as transformers does). Gemma's
// query and key rows are stored unpermuted. The file must hold every tensor
// the network uses and no other.
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
	layout := modeling.GGUFLayout{GGUFNames: ggufNames, Options: opt, Fix: unshiftNorms, BlockCount: GGUFArchitecture + ".block_count", Blocks: cfg.NumHiddenLayers}
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

// unshiftNorms undoes llama.cpp's 1 + w on the RMSNorm weights.
func unshiftNorms(s modeling.Spec) func([]float32) []float32 {
	if !strings.HasSuffix(s.Name, "norm.weight") {
		return nil
	}
	return func(values []float32) []float32 {
		for i := range values {
			values[i]--
		}
		return values
	}
}

// ggufConfig builds the config from the metadata of a gemma3 GGUF file and
// the tensors it holds.
func ggufConfig(info *weights.GGUFInfo, set *weights.Set) (*Config, error) {
	arch, err := info.MetaString("general.architecture")
	if err != nil {
		return nil, err
	}
	if arch != GGUFArchitecture {
		return nil, fmt.Errorf("%s: general.architecture is %q; gemma.LoadGGUF reads %q files", info.Path, arch, GGUFArchitecture)
	}
	cfg := &Config{ModelType: Gemma3, Architectures: []string{"Gemma3ForCausalLM"}, TorchDtype: "float32", RopeTheta: 1e6}
	var window int
	m := &modeling.GGUFMeta{Info: info}
	for _, k := range []struct {
		key   string
		field *int
	}{
		{"block_count", &cfg.NumHiddenLayers}, {"embedding_length", &cfg.HiddenSize}, {"feed_forward_length", &cfg.IntermediateSize},
		{"context_length", &cfg.MaxPositionEmbeddings}, {"attention.head_count", &cfg.NumAttentionHeads},
		{"attention.head_count_kv", &cfg.NumKeyValueHeads}, {"attention.key_length", &cfg.HeadDim},
		{"attention.sliding_window", &window},
	} {
		m.Int(arch+"."+k.key, k.field, true)
	}
	m.Float(arch+".attention.layer_norm_rms_epsilon", &cfg.RMSNormEps, true)
	m.Float(arch+".rope.freq_base", &cfg.RopeTheta, false)
	valueLength, bos, eos, pad := 0, -1, -1, -1
	m.Int(arch+".attention.value_length", &valueLength, false)
	m.Int("tokenizer.ggml.bos_token_id", &bos, false)
	m.Int("tokenizer.ggml.eos_token_id", &eos, false)
	m.Int("tokenizer.ggml.padding_token_id", &pad, false)
	if m.Err != nil {
		return nil, m.Err
	}
	if cfg.RopeScaling, err = modeling.GGUFRopeScaling(info, arch); err != nil {
		return nil, err
	}
	if valueLength != 0 && valueLength != cfg.HeadDim {
		return nil, fmt.Errorf("%s: metadata key \"%s.attention.value_length\" is %d, not key_length %d", info.Path, arch, valueLength, cfg.HeadDim)
	}
	cfg.SlidingWindow = &window
	cfg.QueryPreAttnScalar = float64(cfg.HeadDim)
	if cfg.NumHiddenLayers == 62 && cfg.NumAttentionHeads > 0 {
		// Gemma 3 27B scales by hidden_size/num_attention_heads, as
		// llama.cpp recognizes it; the others by the head size.
		cfg.QueryPreAttnScalar = float64(cfg.HiddenSize / cfg.NumAttentionHeads)
	}
	for _, id := range []struct {
		v     int
		field **int
	}{{bos, &cfg.BosTokenID}, {pad, &cfg.PadTokenID}} {
		if id.v >= 0 {
			*id.field = ptr(id.v)
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
	if err := cfg.Check(info.Path); err != nil {
		return nil, err
	}
	return cfg, nil
}
