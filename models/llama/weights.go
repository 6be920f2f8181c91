package llama

import (
	"fmt"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// specs lists every weight of the network, as the network declares them:
// Hugging Face's LlamaForCausalLM names, shapes (nn.Linear weights are
// [out, in]) and roles.
func specs(c *Config) ([]modeling.Spec, error) {
	inv, err := modeling.RotaryInvFreq(c.HeadDim(), c.RopeTheta, c.RopeScaling)
	if err != nil {
		return nil, err
	}
	return (&Model{Config: c, invFreq: inv}).specs()
}

func (m *Model) specs() ([]modeling.Spec, error) {
	sp, err := modeling.DeclareDecoder(m.graph)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Config.ModelType, err)
	}
	return sp, nil
}
