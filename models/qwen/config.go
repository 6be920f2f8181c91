package qwen

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config mirrors a Qwen2 or Qwen3 config.json field for field (Hugging
// Face's Qwen2Config and Qwen3Config, which differ only in Qwen3's head_dim
// and attention_bias).
type Config struct {
	ModelType         string   `json:"model_type"` // "qwen2" or "qwen3"
	Architectures     []string `json:"architectures,omitempty"`
	VocabSize         int      `json:"vocab_size"`
	HiddenSize        int      `json:"hidden_size"`
	IntermediateSize  int      `json:"intermediate_size"`
	NumHiddenLayers   int      `json:"num_hidden_layers"`
	NumAttentionHeads int      `json:"num_attention_heads"`
	NumKeyValueHeads  int      `json:"num_key_value_heads,omitempty"`
	// HeadDimField is head_dim: Qwen3's is independent of the other sizes
	// (128 when absent); Qwen2's defaults to hidden_size / num_attention_heads.
	HeadDimField          int                   `json:"head_dim,omitempty"`
	HiddenAct             string                `json:"hidden_act,omitempty"`
	MaxPositionEmbeddings int                   `json:"max_position_embeddings,omitempty"`
	InitializerRange      float64               `json:"initializer_range,omitempty"`
	RMSNormEps            float64               `json:"rms_norm_eps,omitempty"`
	UseCache              *bool                 `json:"use_cache,omitempty"`
	PadTokenID            *int                  `json:"pad_token_id,omitempty"`
	BosTokenID            *int                  `json:"bos_token_id,omitempty"`
	EosTokenID            any                   `json:"eos_token_id,omitempty"` // an id or a list of ids
	TieWordEmbeddings     bool                  `json:"tie_word_embeddings"`
	RopeTheta             float64               `json:"rope_theta,omitempty"`
	RopeScaling           *modeling.RopeScaling `json:"rope_scaling,omitempty"`
	// RopeParameters is transformers 5's rope_theta and rope_scaling in one
	// object; check folds it into those two fields.
	RopeParameters *modeling.RopeParameters `json:"rope_parameters,omitempty"`
	// AttentionBias gives Qwen3's four attention projections biases.
	// Qwen2 has none of this field: its q, k and v projections always
	// have biases and its output projection never.
	AttentionBias bool `json:"attention_bias,omitempty"`
	// UseSlidingWindow turns on the sliding window; without it
	// sliding_window is ignored, as Hugging Face ignores it.
	UseSlidingWindow bool `json:"use_sliding_window"`
	SlidingWindow    *int `json:"sliding_window,omitempty"`
	// MaxWindowLayers is the number of layers, from the first, that attend
	// globally when the window is on and layer_types is absent (28 when
	// absent).
	MaxWindowLayers *int `json:"max_window_layers,omitempty"`
	// LayerTypes gives each layer's attention, "full_attention" or
	// "sliding_attention", in place of max_window_layers (transformers 5
	// writes it).
	LayerTypes       []string `json:"layer_types,omitempty"`
	AttentionDropout float64  `json:"attention_dropout,omitempty"`
	TorchDtype       string   `json:"torch_dtype,omitempty"`
}

// Required lists the config.json fields that have no default here.
var Required = []string{"model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"}

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	cfg := &Config{}
	if err := modeling.ReadConfig(path, cfg, Required...); err != nil {
		return nil, err
	}
	return cfg, cfg.check(path)
}

// defaults fills what Hugging Face's Qwen2Config and Qwen3Config fill. An
// absent num_key_value_heads is num_attention_heads, as a null one is there
// (their dataclass default, 32, is only right for 32 query heads).
func (c *Config) defaults() {
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.HeadDimField == 0 && c.ModelType == "qwen3" {
		c.HeadDimField = 128
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
		c.MaxPositionEmbeddings = 32768
	}
	if c.MaxWindowLayers == nil {
		layers := 28
		c.MaxWindowLayers = &layers
	}
}

// check fills the defaults and validates the sizes and the windows.
func (c *Config) check(path string) error {
	if c.ModelType != "qwen2" && c.ModelType != "qwen3" {
		return fmt.Errorf("%s: field \"model_type\" is %q, not qwen2 or qwen3", path, c.ModelType)
	}
	if err := c.RopeParameters.Fold(path, &c.RopeTheta, &c.RopeScaling); err != nil {
		return err
	}
	c.RopeParameters = nil
	c.defaults()
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
	if err := c.checkWindows(path); err != nil {
		return err
	}
	if _, err := modeling.RotaryInvFreq(c.HeadDim(), c.RopeTheta, c.RopeScaling); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// The attention kinds of layer_types.
const (
	fullAttention    = "full_attention"
	slidingAttention = "sliding_attention"
)

// checkWindows validates sliding_window and layer_types.
func (c *Config) checkWindows(path string) error {
	if c.SlidingWindow != nil && *c.SlidingWindow <= 0 {
		return fmt.Errorf("%s: field \"sliding_window\" must be positive or null, got %d", path, *c.SlidingWindow)
	}
	if c.LayerTypes == nil {
		return nil
	}
	if len(c.LayerTypes) != c.NumHiddenLayers {
		return fmt.Errorf("%s: field \"layer_types\" lists %d layers, \"num_hidden_layers\" is %d", path, len(c.LayerTypes), c.NumHiddenLayers)
	}
	for i, t := range c.LayerTypes {
		if t != fullAttention && t != slidingAttention {
			return fmt.Errorf("%s: field \"layer_types\": layer %d is %q (supported: %s, %s)", path, i, t, fullAttention, slidingAttention)
		}
	}
	// Hugging Face refuses to build the mask of a sliding layer without a
	// window.
	if slices.Contains(c.LayerTypes, slidingAttention) && c.window() == 0 {
		return fmt.Errorf("%s: field \"layer_types\" has %s layers, but there is no window (\"sliding_window\" null or \"use_sliding_window\" false)", path, slidingAttention)
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

// window is the sliding window when it is on, else 0.
func (c *Config) window() int {
	if !c.UseSlidingWindow || c.SlidingWindow == nil {
		return 0
	}
	return *c.SlidingWindow
}

// LayerWindows returns each layer's sliding window (0: the layer attends
// to every earlier token), as Hugging Face decides: the layers layer_types
// marks "sliding_attention", or, without layer_types, the layers from
// max_window_layers on; none when use_sliding_window is false.
func (c *Config) LayerWindows() []int {
	w := c.window()
	windows := make([]int, c.NumHiddenLayers)
	for i := range windows {
		sliding := i >= *c.MaxWindowLayers
		if c.LayerTypes != nil {
			sliding = c.LayerTypes[i] == slidingAttention
		}
		if sliding {
			windows[i] = w
		}
	}
	return windows
}

// QKVBias reports whether the q, k and v projections have biases: always
// in Qwen2, with attention_bias in Qwen3.
func (c *Config) QKVBias() bool { return c.ModelType == "qwen2" || c.AttentionBias }

// OutputBias reports whether the output projection has a bias: in Qwen3
// with attention_bias.
func (c *Config) OutputBias() bool { return c.ModelType == "qwen3" && c.AttentionBias }

// QKNorm reports whether each query and key head is RMS-normalized before
// the rotary embedding (Qwen3).
func (c *Config) QKNorm() bool { return c.ModelType == "qwen3" }
