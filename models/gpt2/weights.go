package gpt2

import (
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// specs lists every weight of the network under Hugging Face's GPT2Model
// names, with its checkpoint shape and its role. Conv1D weights are
// [in, out] there and are kept transposed, [out, in]. The token embedding
// is also the LM head (tied).
func specs(c *Config) []modeling.Spec {
	d, inner := c.NEmbd, c.Inner()
	s := []modeling.Spec{
		{Name: "wte.weight", Dims: []int{c.VocabSize, d}, Role: modeling.LMHead},
		{Name: "wpe.weight", Dims: []int{c.NPositions, d}},
		{Name: "ln_f.weight", Dims: []int{d}}, {Name: "ln_f.bias", Dims: []int{d}},
	}
	for i := range c.NLayer {
		l := func(n string, role modeling.Role, dims ...int) modeling.Spec {
			return modeling.Spec{Name: fmt.Sprintf("h.%d.%s", i, n), Dims: dims, Role: role}
		}
		// Conv1D weights are [in, out] in the checkpoint; keep them as [out, in].
		conv := func(n string, role modeling.Role, in, out int) modeling.Spec {
			s := l(n, role, in, out)
			s.Transpose = true
			return s
		}
		s = append(s,
			l("ln_1.weight", modeling.Whole, d), l("ln_1.bias", modeling.Whole, d),
			conv("attn.c_attn.weight", modeling.ColumnParallel, d, 3*d), l("attn.c_attn.bias", modeling.ColumnBias, 3*d),
			conv("attn.c_proj.weight", modeling.RowParallel, d, d), l("attn.c_proj.bias", modeling.Whole, d),
			l("ln_2.weight", modeling.Whole, d), l("ln_2.bias", modeling.Whole, d),
			conv("mlp.c_fc.weight", modeling.ColumnParallel, d, inner), l("mlp.c_fc.bias", modeling.ColumnBias, inner),
			conv("mlp.c_proj.weight", modeling.RowParallel, inner, d), l("mlp.c_proj.bias", modeling.Whole, d))
	}
	return s
}

// buffers reports the checkpoint tensors that are not weights of the
// network: the causal-mask buffers older versions saved (attn.bias,
// attn.masked_bias) and the LM head, which is the token embedding.
func buffers(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") || name == "lm_head.weight"
}

// checkpointPrefix returns "transformer." when the checkpoint was saved from
// GPT2LMHeadModel (names under transformer.) and "" for a bare GPT2Model
// (like the original "gpt2" checkpoint). The attn.bias / attn.masked_bias
// buffers older versions saved, and a tied lm_head.weight, are not needed.
func checkpointPrefix(set *weights.Set) string {
	if set.Has("transformer.wte.weight") {
		return "transformer."
	}
	for _, n := range set.Names() {
		if strings.HasPrefix(n, "transformer.") {
			return "transformer."
		}
	}
	return ""
}
