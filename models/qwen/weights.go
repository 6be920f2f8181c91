package qwen

import (
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// unread reports the checkpoint tensors that are no weights of the
// network: rotary frequencies (recomputed) and, with a tied head, the head
// (the embedding is).
func (c *Config) unread(name string) bool {
	return strings.HasSuffix(name, "rotary_emb.inv_freq") || name == "lm_head.weight" && c.TieWordEmbeddings
}

// declared returns a model of cfg without weights, ready to declare them.
func declared(cfg *Config) (*Model, error) {
	inv, err := modeling.RotaryInvFreq(cfg.HeadDim(), cfg.RopeTheta, cfg.RopeScaling)
	if err != nil {
		return nil, err
	}
	return &Model{Config: cfg, invFreq: inv}, nil
}

// specs lists every weight of the network, as the network declares them:
// Hugging Face's names, shapes (nn.Linear weights are [out, in]) and roles.
func (m *Model) specs() ([]modeling.Spec, error) {
	sp, err := modeling.DeclareDecoder(m.graph)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Config.ModelType, err)
	}
	return sp, nil
}
