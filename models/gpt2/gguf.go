package gpt2

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/trustformers/trustformers-go/models/weights"
)

// ggufNames maps GPT2Model's weight names inside layer N ("h.N.") to
// llama.cpp's ("blk.N."); the weights outside the layers are in SaveGGUF.
var ggufNames = map[string]string{
	"ln_1.weight": "attn_norm.weight", "ln_1.bias": "attn_norm.bias",
	"attn.c_attn.weight": "attn_qkv.weight", "attn.c_attn.bias": "attn_qkv.bias",
	"attn.c_proj.weight": "attn_output.weight", "attn.c_proj.bias": "attn_output.bias",
	"ln_2.weight": "ffn_norm.weight", "ln_2.bias": "ffn_norm.bias",
	"mlp.c_fc.weight": "ffn_up.weight", "mlp.c_fc.bias": "ffn_up.bias",
	"mlp.c_proj.weight": "ffn_down.weight", "mlp.c_proj.bias": "ffn_down.bias",
}

// SaveGGUF writes the model to path as a GGUF file of llama.cpp's "gpt2"
// architecture, as llama.cpp's convert_hf_to_gguf.py lays GPT-2 out: the
// Conv1D weights transposed to [out, in], the tied head written again as
// output.weight, and gpt2.* metadata (context, embedding and feed-forward
// lengths, blocks, heads, LayerNorm epsilon). tensorType is "f32", "f16",
// "q8_0" or "q4_0" for the 2-D weights (those whose rows are not a whole
// number of 32-value blocks stay F32); norms, biases and the position
// embedding are F32. extra entries are added to the metadata, replacing
// entries of the same key: pass the tokenizer's (tokenizer.GGUFMetadata),
// which llama.cpp needs to run the file. Only gelu_new (GPT-2's activation,
// llama.cpp's gelu) is written.
func (m *Model) SaveGGUF(path string, tensorType string, extra ...weights.GGUFKV) error {
	typ, err := weights.ParseGGUFType(tensorType)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c := m.Config
	if act := c.ActivationFunction; act != "gelu_new" && act != "gelu_pytorch_tanh" {
		return fmt.Errorf("%s: activation_function %q: llama.cpp's gpt2 architecture uses gelu_new", path, act)
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
		dims := s.Dims
		if s.Transpose { // Conv1D [in, out] -> [out, in]
			values, dims = transpose(values, dims[0], dims[1]), []int{dims[1], dims[0]}
		}
		var name string
		switch s.Name {
		case "wte.weight":
			name = "token_embd.weight"
		case "wpe.weight":
			name = "position_embd.weight"
		case "ln_f.weight", "ln_f.bias":
			name = "output_norm." + strings.TrimPrefix(s.Name, "ln_f.")
		default:
			rest, _ := strings.CutPrefix(s.Name, "h.")
			layer, suffix, _ := strings.Cut(rest, ".")
			name = "blk." + layer + "." + ggufNames[suffix]
		}
		wt := typ
		if len(dims) == 1 || dims[len(dims)-1]%32 != 0 || s.Name == "wpe.weight" {
			wt = weights.GGUFF32
		}
		ts = append(ts, weights.GGUFTensor{Name: name, Type: wt, Dims: dims, Values: values})
		if s.Name == "wte.weight" { // the tied head, as llama.cpp's converter writes it
			ts = append(ts, weights.GGUFTensor{Name: "output.weight", Type: wt, Dims: dims, Values: values})
		}
	}
	u := func(n int) uint32 { return uint32(n) }
	meta := []weights.GGUFKV{
		{Key: "general.architecture", Value: "gpt2"},
		{Key: "general.name", Value: strings.TrimSuffix(filepath.Base(path), ".gguf")},
		{Key: "general.alignment", Value: uint32(weights.GGUFAlignment)},
		{Key: "general.file_type", Value: weights.GGUFFileType(typ)},
		{Key: "gpt2.context_length", Value: u(c.NPositions)},
		{Key: "gpt2.embedding_length", Value: u(c.NEmbd)},
		{Key: "gpt2.feed_forward_length", Value: u(c.Inner())},
		{Key: "gpt2.block_count", Value: u(c.NLayer)},
		{Key: "gpt2.attention.head_count", Value: u(c.NHead)},
		{Key: "gpt2.attention.layer_norm_epsilon", Value: float32(c.LayerNormEpsilon)},
	}
	for _, id := range []struct {
		key string
		id  *int
	}{{"tokenizer.ggml.bos_token_id", c.BosTokenID}, {"tokenizer.ggml.eos_token_id", c.EosTokenID}} {
		if id.id != nil {
			meta = append(meta, weights.GGUFKV{Key: id.key, Value: u(*id.id)})
		}
	}
	return weights.WriteGGUF(path, weights.WithGGUFKV(meta, extra...), ts)
}

// transpose returns the [cols, rows] transpose of the row-major [rows, cols] x.
func transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = x[r*cols+c]
		}
	}
	return out
}
