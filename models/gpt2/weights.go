package gpt2

import (
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// specs lists every weight of the network under Hugging Face's GPT2Model
// names, with its checkpoint shape. Conv1D weights are [in, out] there and
// are kept transposed, [out, in].
func specs(c *Config) []modeling.Spec {
	d, inner := c.NEmbd, c.Inner()
	s := []modeling.Spec{
		{Name: "wte.weight", Dims: []int{c.VocabSize, d}},
		{Name: "wpe.weight", Dims: []int{c.NPositions, d}},
		{Name: "ln_f.weight", Dims: []int{d}}, {Name: "ln_f.bias", Dims: []int{d}},
	}
	for i := range c.NLayer {
		l := func(n string, dims ...int) modeling.Spec {
			return modeling.Spec{Name: fmt.Sprintf("h.%d.%s", i, n), Dims: dims}
		}
		// Conv1D weights are [in, out] in the checkpoint; keep them as [out, in].
		conv := func(n string, in, out int) modeling.Spec {
			s := l(n, in, out)
			s.Transpose = true
			return s
		}
		s = append(s,
			l("ln_1.weight", d), l("ln_1.bias", d),
			conv("attn.c_attn.weight", d, 3*d), l("attn.c_attn.bias", 3*d),
			conv("attn.c_proj.weight", d, d), l("attn.c_proj.bias", d),
			l("ln_2.weight", d), l("ln_2.bias", d),
			conv("mlp.c_fc.weight", d, inner), l("mlp.c_fc.bias", inner),
			conv("mlp.c_proj.weight", inner, d), l("mlp.c_proj.bias", d))
	}
	return s
}

// matmulWeights names the weights that multiply activations (the head is
// the tied token embedding), which decoding reads once per token.
func matmulWeights(c *Config) []string {
	names := []string{"wte.weight"}
	for i := range c.NLayer {
		for _, n := range []string{"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"} {
			names = append(names, fmt.Sprintf("h.%d.%s.weight", i, n))
		}
	}
	return names
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
