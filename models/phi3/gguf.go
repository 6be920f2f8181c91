package phi3

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// GGUFArchitecture is the general.architecture of the llama.cpp GGUF files
// LoadGGUF reads.
const GGUFArchitecture = "phi3"

// The tensors of longrope's factors in a phi3 GGUF file, one per rotating
// feature pair, outside the blocks.
const (
	ggufLongFactors  = "rope_factors_long.weight"
	ggufShortFactors = "rope_factors_short.weight"
)

// ggufNames maps Hugging Face's Phi-3 weight names to llama.cpp's. Both
// keep the fused projections: qkv_proj is attn_qkv (query, key and value
// rows in that order) and gate_up_proj is ffn_up (gate rows first), which
// llama.cpp's SwiGLU splits in halves as Phi3MLP does.
var ggufNames = modeling.GGUFNames{
	Global: map[string]string{
		"model.embed_tokens.weight": "token_embd.weight",
		"model.norm.weight":         "output_norm.weight",
		"lm_head.weight":            "output.weight",
	},
	Layer: map[string]string{
		"input_layernorm.weight":          "attn_norm.weight",
		"self_attn.qkv_proj.weight":       "attn_qkv.weight",
		"self_attn.o_proj.weight":         "attn_output.weight",
		"post_attention_layernorm.weight": "ffn_norm.weight",
		"mlp.gate_up_proj.weight":         "ffn_up.weight",
		"mlp.down_proj.weight":            "ffn_down.weight",
	},
}

// LoadGGUF reads a llama.cpp GGUF file of the "phi3" architecture (Phi-3,
// Phi-3.5 and Phi-4-mini) onto backend. The config comes from the metadata:
// phi3.embedding_length, .block_count, .feed_forward_length,
// .attention.head_count, .context_length and
// .attention.layer_norm_rms_epsilon are required; .attention.head_count_kv
// (default: head_count), .rope.freq_base (default 10000),
// .rope.dimension_count (the rotating features of each head, as
// partial_rotary_factor), .rope.scaling.original_context_length
// (original_max_position_embeddings), .rope.scaling.attn_factor,
// .attention.sliding_window (0: none) and tokenizer.ggml.bos/eos/
// padding_token_id are read when present. The tensors rope_factors_long
// and rope_factors_short, which llama.cpp's converter writes for a
// longrope config, are longrope's long and short factors. The vocabulary
// size is token_embd.weight's row count; a file without output.weight ties
// the head to the embedding.
//
// The sliding window is Phi3ForCausalLM's, as config.json gives it: llama.cpp
// currently runs phi3 files without it, and transformers' GGUF loader
// drops the key (and the rotary keys above), so both differ from the model
// past the window. The file must hold every tensor the network uses and no
// other.
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
	layout := modeling.GGUFLayout{GGUFNames: ggufNames, Options: opt, BlockCount: GGUFArchitecture + ".block_count", Blocks: cfg.NumHiddenLayers,
		Own: []string{ggufLongFactors, ggufShortFactors}}
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

// ggufConfig builds the config from the metadata of a phi3 GGUF file and
// the tensors it holds.
func ggufConfig(info *weights.GGUFInfo, set *weights.Set) (*Config, error) {
	const arch = GGUFArchitecture
	if a, err := info.MetaString("general.architecture"); err != nil {
		return nil, err
	} else if a != arch {
		return nil, fmt.Errorf("%s: general.architecture is %q; phi3.LoadGGUF reads %q files", info.Path, a, arch)
	}
	cfg := &Config{ModelType: "phi3", Architectures: []string{"Phi3ForCausalLM"}, HiddenAct: "silu", TorchDtype: "float32", RopeTheta: 10000}
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
	m.Int(arch+".rope.scaling.original_context_length", &cfg.OriginalMaxPositionEmbeddings, false)
	ropeDims, window, bos, eos, pad := 0, 0, -1, -1, -1
	attnFactor := 0.0
	m.Int(arch+".rope.dimension_count", &ropeDims, false)
	m.Int(arch+".attention.sliding_window", &window, false)
	m.Float(arch+".rope.scaling.attn_factor", &attnFactor, false)
	m.Int("tokenizer.ggml.bos_token_id", &bos, false)
	m.Int("tokenizer.ggml.eos_token_id", &eos, false)
	m.Int("tokenizer.ggml.padding_token_id", &pad, false)
	if m.Err != nil {
		return nil, m.Err
	}
	if window > 0 {
		cfg.SlidingWindow = &window
	}
	if bos >= 0 {
		cfg.BosTokenID = &bos
	}
	if pad >= 0 {
		cfg.PadTokenID = &pad
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
	if err := ggufRotary(cfg, info, set, ropeDims, attnFactor); err != nil {
		return nil, err
	}
	if err := cfg.check(info.Path); err != nil {
		return nil, err
	}
	if ropeDims > 0 && cfg.RotaryDim() != ropeDims {
		return nil, fmt.Errorf("%s: metadata key \"%s.rope.dimension_count\" is %d, not a share of the head size %d", info.Path, arch, ropeDims, cfg.HeadDim())
	}
	return cfg, nil
}

// ggufRotary sets partial_rotary_factor from the rotating features of each
// head (ropeDims; 0: all) and, when the file holds longrope's factor
// tensors, the longrope scaling with attnFactor (0: longrope's default).
func ggufRotary(cfg *Config, info *weights.GGUFInfo, set *weights.Set, ropeDims int, attnFactor float64) error {
	if ropeDims > 0 && cfg.NumAttentionHeads > 0 && cfg.HiddenSize/cfg.NumAttentionHeads > 0 {
		cfg.PartialRotaryFactor = float64(ropeDims) / float64(cfg.HiddenSize/cfg.NumAttentionHeads)
	}
	long, short := set.Has(ggufLongFactors), set.Has(ggufShortFactors)
	if !long && !short {
		return nil
	}
	if long != short {
		return fmt.Errorf("%s: tensors %q and %q come together (longrope's factors); the file has one", info.Path, ggufLongFactors, ggufShortFactors)
	}
	if ropeDims == 0 && cfg.NumAttentionHeads > 0 {
		ropeDims = cfg.HiddenSize / cfg.NumAttentionHeads
	}
	s := &RopeScaling{RopeType: "longrope"}
	for _, f := range []struct {
		name   string
		factor *[]float64
	}{{ggufLongFactors, &s.LongFactor}, {ggufShortFactors, &s.ShortFactor}} {
		values, err := set.Float32Values(f.name, ropeDims/2)
		if err != nil {
			return err
		}
		for _, v := range values {
			*f.factor = append(*f.factor, float64(v))
		}
	}
	if attnFactor != 0 {
		s.AttentionFactor = &attnFactor
	}
	cfg.RopeScaling = s
	return nil
}
