package llama

import (
	"fmt"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// specs lists every weight under Hugging Face's LlamaForCausalLM names, with
// its shape (nn.Linear weights are [out, in]).
func specs(c *Config) []modeling.Spec {
	d, hd, i := c.HiddenSize, c.HeadDim(), c.IntermediateSize
	q, kv := c.NumAttentionHeads*hd, c.NumKeyValueHeads*hd
	s := []modeling.Spec{
		{Name: "model.embed_tokens.weight", Dims: []int{c.VocabSize, d}},
		{Name: "model.norm.weight", Dims: []int{d}},
	}
	if !c.TieWordEmbeddings {
		s = append(s, modeling.Spec{Name: "lm_head.weight", Dims: []int{c.VocabSize, d}})
	}
	for l := range c.NumHiddenLayers {
		w := func(n string, dims ...int) modeling.Spec {
			return modeling.Spec{Name: fmt.Sprintf("model.layers.%d.%s", l, n), Dims: dims}
		}
		s = append(s,
			w("input_layernorm.weight", d), w("post_attention_layernorm.weight", d),
			w("self_attn.q_proj.weight", q, d), w("self_attn.k_proj.weight", kv, d),
			w("self_attn.v_proj.weight", kv, d), w("self_attn.o_proj.weight", d, q),
			w("mlp.gate_proj.weight", i, d), w("mlp.up_proj.weight", i, d), w("mlp.down_proj.weight", d, i))
		if c.AttentionBias {
			s = append(s, w("self_attn.q_proj.bias", q), w("self_attn.k_proj.bias", kv),
				w("self_attn.v_proj.bias", kv), w("self_attn.o_proj.bias", d))
		}
		if c.MLPBias {
			s = append(s, w("mlp.gate_proj.bias", i), w("mlp.up_proj.bias", i), w("mlp.down_proj.bias", d))
		}
	}
	return s
}
