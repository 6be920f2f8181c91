package gpt2

import (
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// specs lists every weight of the network, as the network declares them:
// Hugging Face's GPT2Model names, checkpoint shapes (Conv1D weights [in, out],
// kept transposed) and roles. The token embedding is also the LM head.
func specs(c *Config) ([]modeling.Spec, error) {
	sp, err := modeling.DeclareDecoder((&Model{Config: c}).graph)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	return sp, nil
}

// buffers reports the checkpoint tensors that are not weights of the
// network: the causal-mask buffers older versions saved (attn.bias,
// attn.masked_bias) and the LM head, which is the token embedding.
func buffers(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") || name == "lm_head.weight"
}

// lmHeadPrefix is where GPT2LMHeadModel nests GPT2Model's weights, whose
// names the network uses.
const lmHeadPrefix = "transformer."

// checkpointPrefix returns "transformer." when the checkpoint was saved from
// GPT2LMHeadModel (names under transformer.) and "" for a bare GPT2Model
// (like the original "gpt2" checkpoint). The attn.bias / attn.masked_bias
// buffers older versions saved, and a tied lm_head.weight, are not needed.
func checkpointPrefix(set *weights.Set) string {
	for _, n := range set.Names() {
		if strings.HasPrefix(n, lmHeadPrefix) {
			return lmHeadPrefix
		}
	}
	return ""
}
