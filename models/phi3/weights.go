package phi3

import (
	"fmt"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// declared returns a model of cfg with its rotary embedding and no weights
// yet: enough to declare the network's weights (specs).
func declared(cfg *Config) (*Model, error) {
	r, err := cfg.Rotary()
	if err != nil {
		return nil, err
	}
	return &Model{Config: cfg, rotary: r}, nil
}

// specs lists every weight of the network, as the network declares them:
// Hugging Face's Phi3ForCausalLM names, shapes (nn.Linear weights are
// [out, in]) and roles.
func (m *Model) specs() ([]modeling.Spec, error) {
	sp, err := modeling.DeclareDecoder(m.graph)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Config.ModelType, err)
	}
	return sp, nil
}
