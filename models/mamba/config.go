package mamba

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config mirrors a Mamba config.json field for field (Hugging Face's
// MambaConfig). Fields config.json may leave out take MambaConfig's
// defaults (check fills them); the booleans whose default is true are
// pointers, read through their methods.
type Config struct {
	ModelType        string   `json:"model_type"`
	Architectures    []string `json:"architectures,omitempty"`
	VocabSize        int      `json:"vocab_size"`
	HiddenSize       int      `json:"hidden_size"`
	StateSize        int      `json:"state_size,omitempty"`
	NumHiddenLayers  int      `json:"num_hidden_layers"`
	LayerNormEpsilon float64  `json:"layer_norm_epsilon,omitempty"`
	PadTokenID       *int     `json:"pad_token_id,omitempty"`
	BosTokenID       *int     `json:"bos_token_id,omitempty"`
	EosTokenID       any      `json:"eos_token_id,omitempty"` // an id or a list of ids
	Expand           int      `json:"expand,omitempty"`
	// IntermediateSize is what transformers saves; like transformers, the
	// network uses expand × hidden_size whatever it says.
	IntermediateSize int     `json:"intermediate_size,omitempty"`
	ConvKernel       int     `json:"conv_kernel,omitempty"`
	UseBias          bool    `json:"use_bias,omitempty"`
	UseConvBiasField *bool   `json:"use_conv_bias,omitempty"`
	HiddenAct        string  `json:"hidden_act,omitempty"`
	InitializerRange float64 `json:"initializer_range,omitempty"`
	// ResidualInFP32Field is residual_in_fp32: the residual stream kept in
	// float32 when the weights are narrower. This package computes in
	// float32 throughout, so the residual is float32 either way.
	ResidualInFP32Field *bool `json:"residual_in_fp32,omitempty"`
	// TimeStepRankField is time_step_rank: a number, or "auto" for
	// ceil(hidden_size / 16) (see TimeStepRank).
	TimeStepRankField      any     `json:"time_step_rank,omitempty"`
	TimeStepScale          float64 `json:"time_step_scale,omitempty"`
	TimeStepMin            float64 `json:"time_step_min,omitempty"`
	TimeStepMax            float64 `json:"time_step_max,omitempty"`
	TimeStepInitScheme     string  `json:"time_step_init_scheme,omitempty"`
	TimeStepFloor          float64 `json:"time_step_floor,omitempty"`
	RescalePrenormResidual bool    `json:"rescale_prenorm_residual,omitempty"`
	UseCache               *bool   `json:"use_cache,omitempty"`
	UseMambapy             bool    `json:"use_mambapy,omitempty"`
	UseAssociativeScan     *bool   `json:"use_associative_scan,omitempty"`
	TieWordEmbeddingsField *bool   `json:"tie_word_embeddings,omitempty"`
	TorchDtype             string  `json:"torch_dtype,omitempty"`

	timeStepRank int
}

// Required lists the config.json fields that have no default here (a
// Mamba of MambaConfig's default size would only fail later, at its
// weights).
var Required = []string{"vocab_size", "hidden_size", "num_hidden_layers"}

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	cfg := &Config{}
	if err := modeling.ReadConfig(path, cfg, Required...); err != nil {
		return nil, err
	}
	return cfg, cfg.check(path)
}

// check fills MambaConfig's defaults and validates the sizes; path names
// the file in errors.
func (c *Config) check(path string) error {
	if c.ModelType == "" {
		c.ModelType = "mamba"
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&c.StateSize, 16}, {&c.Expand, 2}, {&c.ConvKernel, 4}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.LayerNormEpsilon == 0 {
		c.LayerNormEpsilon = 1e-5
	}
	if c.HiddenAct == "" {
		c.HiddenAct = "silu"
	}
	if err := modeling.Bounded(path, map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize,
		"state_size": c.StateSize, "num_hidden_layers": c.NumHiddenLayers, "expand": c.Expand,
		"conv_kernel": c.ConvKernel}, "num_hidden_layers"); err != nil {
		return err
	}
	if c.Expand*c.HiddenSize > modeling.MaxSize {
		return fmt.Errorf("%s: fields \"expand\" × \"hidden_size\" is %d, more than the %d any model here can have", path, c.Expand*c.HiddenSize, modeling.MaxSize)
	}
	if c.ConvKernel < 2 {
		return fmt.Errorf("%s: field \"conv_kernel\" is 1: a convolution without past inputs is not supported (Mamba uses 4)", path)
	}
	if err := modeling.PositiveFinite(path, map[string]float64{"layer_norm_epsilon": c.LayerNormEpsilon}); err != nil {
		return err
	}
	if err := modeling.CheckActivation(path, "hidden_act", c.HiddenAct); err != nil {
		return err
	}
	return c.readTimeStepRank(path)
}

// readTimeStepRank reads time_step_rank: "auto" (the default) is
// ceil(hidden_size / 16), as MambaConfig computes it.
func (c *Config) readTimeStepRank(path string) error {
	switch v := c.TimeStepRankField.(type) {
	case nil:
		c.timeStepRank = (c.HiddenSize + 15) / 16
	case string:
		if v != "auto" {
			return fmt.Errorf("%s: field \"time_step_rank\" is %q: want a number or \"auto\"", path, v)
		}
		c.timeStepRank = (c.HiddenSize + 15) / 16
	case float64:
		if v != math.Trunc(v) || v < 1 || v > modeling.MaxSize {
			return fmt.Errorf("%s: field \"time_step_rank\" must be a positive whole number (at most %d), got %v", path, modeling.MaxSize, v)
		}
		c.timeStepRank = int(v)
	default:
		return fmt.Errorf("%s: field \"time_step_rank\" is %v: want a number or \"auto\"", path, v)
	}
	return nil
}

// Inner returns the mixer's width, expand × hidden_size (MambaConfig's
// intermediate_size).
func (c *Config) Inner() int { return c.Expand * c.HiddenSize }

// TimeStepRank returns the width of the time step's low-rank projection.
func (c *Config) TimeStepRank() int { return c.timeStepRank }

// UseConvBias returns use_conv_bias (default true).
func (c *Config) UseConvBias() bool { return c.UseConvBiasField == nil || *c.UseConvBiasField }

// ResidualInFP32 returns residual_in_fp32 (default true).
func (c *Config) ResidualInFP32() bool { return c.ResidualInFP32Field == nil || *c.ResidualInFP32Field }

// TieWordEmbeddings returns tie_word_embeddings (default true): the head
// is the token embedding.
func (c *Config) TieWordEmbeddings() bool {
	return c.TieWordEmbeddingsField == nil || *c.TieWordEmbeddingsField
}
