package llama

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config mirrors a LLaMA or Mistral config.json field for field (Hugging
// Face's LlamaConfig and MistralConfig; Mistral adds sliding_window).
type Config struct {
	ModelType             string                `json:"model_type"`
	Architectures         []string              `json:"architectures,omitempty"`
	VocabSize             int                   `json:"vocab_size"`
	HiddenSize            int                   `json:"hidden_size"`
	IntermediateSize      int                   `json:"intermediate_size"`
	NumHiddenLayers       int                   `json:"num_hidden_layers"`
	NumAttentionHeads     int                   `json:"num_attention_heads"`
	NumKeyValueHeads      int                   `json:"num_key_value_heads,omitempty"`
	HeadDimField          int                   `json:"head_dim,omitempty"`
	HiddenAct             string                `json:"hidden_act,omitempty"`
	MaxPositionEmbeddings int                   `json:"max_position_embeddings,omitempty"`
	InitializerRange      float64               `json:"initializer_range,omitempty"`
	RMSNormEps            float64               `json:"rms_norm_eps,omitempty"`
	UseCache              *bool                 `json:"use_cache,omitempty"`
	PadTokenID            *int                  `json:"pad_token_id,omitempty"`
	BosTokenID            *int                  `json:"bos_token_id,omitempty"`
	EosTokenID            any                   `json:"eos_token_id,omitempty"` // an id or a list of ids (Llama 3)
	PretrainingTP         int                   `json:"pretraining_tp,omitempty"`
	TieWordEmbeddings     bool                  `json:"tie_word_embeddings"`
	RopeTheta             float64               `json:"rope_theta,omitempty"`
	RopeScaling           *modeling.RopeScaling `json:"rope_scaling,omitempty"`
	// RopeParameters is how transformers 5 writes rope_theta and
	// rope_scaling, as one object; check folds it into those two fields.
	RopeParameters   *modeling.RopeParameters `json:"rope_parameters,omitempty"`
	AttentionBias    bool                     `json:"attention_bias,omitempty"`
	AttentionDropout float64                  `json:"attention_dropout,omitempty"`
	MLPBias          bool                     `json:"mlp_bias,omitempty"`
	SlidingWindow    *int                     `json:"sliding_window,omitempty"` // Mistral
	TorchDtype       string                   `json:"torch_dtype,omitempty"`
}

// Required lists the config.json fields that have no default here.
var Required = []string{"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"}

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	cfg := &Config{}
	if err := modeling.ReadConfig(path, cfg, Required...); err != nil {
		return nil, err
	}
	return cfg, cfg.check(path)
}

// check fills Hugging Face's defaults and validates the sizes.
// Check fills Hugging Face's defaults and validates the sizes, naming path
// in errors; families whose config extends LLaMA's (Mixtral) call it.
func (c *Config) Check(path string) error { return c.check(path) }
func (c *Config) check(path string) error {
	if err := c.RopeParameters.Fold(path, &c.RopeTheta, &c.RopeScaling); err != nil {
		return err
	}
	c.RopeParameters = nil
	if c.ModelType == "" {
		c.ModelType = "llama"
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.HiddenAct == "" {
		c.HiddenAct = "silu"
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = 2048
	}
	if err := modeling.Bounded(path, map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize,
		"intermediate_size": c.IntermediateSize, "num_hidden_layers": c.NumHiddenLayers,
		"num_attention_heads": c.NumAttentionHeads, "num_key_value_heads": c.NumKeyValueHeads,
		"max_position_embeddings": c.MaxPositionEmbeddings}, "num_hidden_layers"); err != nil {
		return err
	}
	if err := modeling.PositiveFinite(path, map[string]float64{"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta}); err != nil {
		return err
	}
	if err := modeling.DropoutRates(path, map[string]float64{"attention_dropout": c.AttentionDropout}); err != nil {
		return err
	}
	if err := modeling.CheckHeads(path, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDimField); err != nil {
		return err
	}
	if err := modeling.CheckActivation(path, "hidden_act", c.HiddenAct); err != nil {
		return err
	}
	if c.SlidingWindow != nil && *c.SlidingWindow <= 0 {
		return fmt.Errorf("%s: field \"sliding_window\" must be positive or null, got %d", path, *c.SlidingWindow)
	}
	if _, err := modeling.RotaryInvFreq(c.HeadDim(), c.RopeTheta, c.RopeScaling); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// HeadDim returns head_dim, or hidden_size / num_attention_heads when unset.
func (c *Config) HeadDim() int {
	if c.HeadDimField > 0 {
		return c.HeadDimField
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// Window returns the sliding attention window (Mistral), 0 when there is none.
func (c *Config) Window() int {
	if c.SlidingWindow == nil {
		return 0
	}
	return *c.SlidingWindow
}

// EOSTokenIDs returns eos_token_id as a list (Llama 3 configs give several).
func (c *Config) EOSTokenIDs() []int {
	switch v := c.EosTokenID.(type) {
	case float64:
		return []int{int(v)}
	case []any:
		var ids []int
		for _, x := range v {
			if f, ok := x.(float64); ok {
				ids = append(ids, int(f))
			}
		}
		return ids
	}
	return nil
}
