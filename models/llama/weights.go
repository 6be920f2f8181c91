package llama

import (
	"fmt"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// specs lists every weight under Hugging Face's LlamaForCausalLM names, with
// its shape (nn.Linear weights are [out, in]) and its role.
func specs(c *Config) []modeling.Spec {
	d, hd, i := c.HiddenSize, c.HeadDim(), c.IntermediateSize
	q, kv := c.NumAttentionHeads*hd, c.NumKeyValueHeads*hd
	embed := modeling.Spec{Name: "model.embed_tokens.weight", Dims: []int{c.VocabSize, d}, Role: modeling.Embedding}
	if c.TieWordEmbeddings {
		embed.Role = modeling.LMHead // the embedding is also the head
	}
	s := []modeling.Spec{embed, {Name: "model.norm.weight", Dims: []int{d}}}
	if !c.TieWordEmbeddings {
		s = append(s, modeling.Spec{Name: "lm_head.weight", Dims: []int{c.VocabSize, d}, Role: modeling.LMHead})
	}
	for l := range c.NumHiddenLayers {
		w := func(n string, role modeling.Role, dims ...int) modeling.Spec {
			return modeling.Spec{Name: fmt.Sprintf("model.layers.%d.%s", l, n), Dims: dims, Role: role}
		}
		col, row, whole := modeling.ColumnParallel, modeling.RowParallel, modeling.Whole
		s = append(s,
			w("input_layernorm.weight", whole, d), w("post_attention_layernorm.weight", whole, d),
			w("self_attn.q_proj.weight", col, q, d), w("self_attn.k_proj.weight", col, kv, d),
			w("self_attn.v_proj.weight", col, kv, d), w("self_attn.o_proj.weight", row, d, q),
			w("mlp.gate_proj.weight", col, i, d), w("mlp.up_proj.weight", col, i, d), w("mlp.down_proj.weight", row, d, i))
		if c.AttentionBias {
			bias := modeling.ColumnBias
			s = append(s, w("self_attn.q_proj.bias", bias, q), w("self_attn.k_proj.bias", bias, kv),
				w("self_attn.v_proj.bias", bias, kv), w("self_attn.o_proj.bias", whole, d))
		}
		if c.MLPBias {
			s = append(s, w("mlp.gate_proj.bias", modeling.ColumnBias, i), w("mlp.up_proj.bias", modeling.ColumnBias, i),
				w("mlp.down_proj.bias", whole, d))
		}
	}
	return s
}
