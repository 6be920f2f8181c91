package mixtral

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config mirrors a Mixtral config.json (Hugging Face's MixtralConfig): the
// fields of Mistral's (LLaMA's config with sliding_window), whose meaning
// and checks it shares, and the mixture of experts'.
type Config struct {
	llama.Config
	// NumLocalExperts is the number of experts of each layer (8 when unset).
	NumLocalExperts int `json:"num_local_experts,omitempty"`
	// NumExpertsPerTok is how many of them each token goes to (2 when unset).
	NumExpertsPerTok int `json:"num_experts_per_tok,omitempty"`
	// RouterAuxLossCoef weighs the router's load-balancing loss in the
	// training loss (0.001 when unset; see Model.RouterAuxLoss).
	RouterAuxLossCoef *float64 `json:"router_aux_loss_coef,omitempty"`
	// OutputRouterLogits is Hugging Face's default for returning router
	// logits and adding the load-balancing loss to the loss; here a forward
	// pass returns them when asked (ForwardOptions.RouterLogits) and a
	// trainer adds the loss when given it (training.CausalLMLossWithAux).
	OutputRouterLogits bool `json:"output_router_logits,omitempty"`
	// RouterJitterNoise makes Hugging Face scale each hidden state by
	// uniform noise in [1-r, 1+r] before routing, in training only. It
	// changes no forward pass; the training losses here do not draw it.
	RouterJitterNoise float64 `json:"router_jitter_noise,omitempty"`
}

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	cfg := &Config{}
	if err := modeling.ReadConfig(path, cfg, llama.Required...); err != nil {
		return nil, err
	}
	return cfg, cfg.check(path)
}

// check fills MixtralConfig's defaults where they differ from LLaMA's,
// then LLaMA's checks, then the experts'.
func (c *Config) check(path string) error {
	if c.ModelType == "" {
		c.ModelType = "mixtral"
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = 8
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-5
	}
	if c.RopeTheta == 0 && (c.RopeParameters == nil || c.RopeParameters.RopeTheta == 0) {
		c.RopeTheta = 1e6
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = 4096 * 32
	}
	if err := c.Config.Check(path); err != nil {
		return err
	}
	if c.NumLocalExperts == 0 {
		c.NumLocalExperts = 8
	}
	if c.NumExpertsPerTok == 0 {
		c.NumExpertsPerTok = 2
	}
	if c.RouterAuxLossCoef == nil {
		coef := 0.001
		c.RouterAuxLossCoef = &coef
	}
	if err := modeling.Bounded(path, map[string]int{"num_local_experts": c.NumLocalExperts, "num_experts_per_tok": c.NumExpertsPerTok}); err != nil {
		return err
	}
	if c.NumExpertsPerTok > c.NumLocalExperts {
		return fmt.Errorf("%s: field \"num_experts_per_tok\" (%d) is more than \"num_local_experts\" (%d)", path, c.NumExpertsPerTok, c.NumLocalExperts)
	}
	if v := *c.RouterAuxLossCoef; !(v >= 0) || v > 1e30 {
		return fmt.Errorf("%s: field \"router_aux_loss_coef\" must be a finite number, 0 or more; got %v", path, v)
	}
	if v := c.RouterJitterNoise; !(v >= 0 && v < 1) {
		return fmt.Errorf("%s: field \"router_jitter_noise\" must be in [0, 1); got %v", path, v)
	}
	return nil
}
