package gemma

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// The model types this package reads, and the two kinds of layers.
const (
	Gemma2 = "gemma2"
	Gemma3 = "gemma3_text"
	// Sliding is a layer_types entry: attention within sliding_window.
	Sliding = "sliding_attention"
	// Full is a layer_types entry: global attention.
	Full = "full_attention"
)

// Config mirrors a Gemma 2 or Gemma 3 (text) config.json field for field
// (Hugging Face's Gemma2Config and Gemma3TextConfig). Decoding a file
// applies Hugging Face's defaults to the fields where a null differs from an
// absent field (tie_word_embeddings, the soft caps, sliding_window); Check
// fills the others.
type Config struct {
	ModelType             string   `json:"model_type"`
	Architectures         []string `json:"architectures,omitempty"`
	VocabSize             int      `json:"vocab_size"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads,omitempty"`
	HeadDim               int      `json:"head_dim,omitempty"`
	HiddenActivation      string   `json:"hidden_activation,omitempty"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings,omitempty"`
	InitializerRange      float64  `json:"initializer_range,omitempty"`
	RMSNormEps            float64  `json:"rms_norm_eps,omitempty"`
	UseCache              *bool    `json:"use_cache,omitempty"`
	PadTokenID            *int     `json:"pad_token_id,omitempty"`
	BosTokenID            *int     `json:"bos_token_id,omitempty"`
	EosTokenID            any      `json:"eos_token_id,omitempty"` // an id or a list of ids
	TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
	// RopeTheta is the rotary base of every layer (Gemma 2) or of the
	// global layers (Gemma 3), whose RopeScaling it is too.
	RopeTheta   float64               `json:"rope_theta,omitempty"`
	RopeScaling *modeling.RopeScaling `json:"rope_scaling,omitempty"`
	// RopeLocalBaseFreq is Gemma 3's rotary base of the sliding layers.
	RopeLocalBaseFreq float64 `json:"rope_local_base_freq,omitempty"`
	// RopeParameters is how transformers 5 writes the rotary settings (for
	// Gemma 3, one entry per layer type); Check folds it into the fields
	// above.
	RopeParameters   *RopeParameters `json:"rope_parameters,omitempty"`
	AttentionBias    bool            `json:"attention_bias,omitempty"`
	AttentionDropout float64         `json:"attention_dropout,omitempty"`
	// QueryPreAttnScalar sets the attention scale, QueryPreAttnScalar^-½.
	QueryPreAttnScalar float64 `json:"query_pre_attn_scalar,omitempty"`
	// SlidingWindow is the window of the sliding layers (nil: none).
	SlidingWindow *int `json:"sliding_window"`
	// SlidingWindowPattern makes every n-th layer global when LayerTypes
	// is not given (Gemma 3; 6 by default).
	SlidingWindowPattern int `json:"sliding_window_pattern,omitempty"`
	// LayerTypes gives each layer's attention, Sliding or Full; by default
	// Gemma 2 alternates them (sliding first) and Gemma 3 follows
	// SlidingWindowPattern.
	LayerTypes []string `json:"layer_types,omitempty"`
	// FinalLogitSoftcapping caps the logits to ±cap with cap·tanh(x/cap)
	// (nil: no cap).
	FinalLogitSoftcapping *float64 `json:"final_logit_softcapping"`
	// AttnLogitSoftcapping caps the attention scores the same way (Gemma 2;
	// Hugging Face's Gemma 3 never applies it).
	AttnLogitSoftcapping      *float64 `json:"attn_logit_softcapping"`
	UseBidirectionalAttention *bool    `json:"use_bidirectional_attention,omitempty"`
	TorchDtype                string   `json:"torch_dtype,omitempty"`
}

// RopeParameters is transformers 5's rope_parameters: the rotary base and
// scaling, or for Gemma 3 one such entry per layer type.
type RopeParameters struct {
	RopeTheta float64 `json:"rope_theta,omitempty"`
	modeling.RopeScaling
	SlidingAttention *RopeParameters `json:"sliding_attention,omitempty"`
	FullAttention    *RopeParameters `json:"full_attention,omitempty"`
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
	return cfg, cfg.Check(path)
}

// UnmarshalJSON decodes a config.json, giving the fields that Hugging Face
// defaults to a value when they are absent (but reads as "none" when null)
// their defaults.
func (c *Config) UnmarshalJSON(data []byte) error {
	type plain Config
	if err := json.Unmarshal(data, (*plain)(c)); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	absent := func(name string) bool { _, ok := fields[name]; return !ok }
	if absent("tie_word_embeddings") {
		c.TieWordEmbeddings = true
	}
	if absent("sliding_window") {
		c.SlidingWindow = ptr(4096)
	}
	if c.ModelType == Gemma2 && absent("final_logit_softcapping") {
		c.FinalLogitSoftcapping = ptr(30.0)
	}
	if c.ModelType == Gemma2 && absent("attn_logit_softcapping") {
		c.AttnLogitSoftcapping = ptr(50.0)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// Check fills Hugging Face's defaults and validates the config; path names
// the file in errors.
func (c *Config) Check(path string) error {
	if c.ModelType != Gemma2 && c.ModelType != Gemma3 {
		return fmt.Errorf("%s: field \"model_type\" is %q; this family reads %q and %q", path, c.ModelType, Gemma2, Gemma3)
	}
	if err := c.foldRopeParameters(path); err != nil {
		return err
	}
	c.defaults()
	if err := modeling.Bounded(path, map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize,
		"intermediate_size": c.IntermediateSize, "num_hidden_layers": c.NumHiddenLayers,
		"num_attention_heads": c.NumAttentionHeads, "num_key_value_heads": c.NumKeyValueHeads, "head_dim": c.HeadDim,
		"max_position_embeddings": c.MaxPositionEmbeddings}, "num_hidden_layers"); err != nil {
		return err
	}
	reals := map[string]float64{"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "query_pre_attn_scalar": c.QueryPreAttnScalar}
	if c.ModelType == Gemma3 {
		reals["rope_local_base_freq"] = c.RopeLocalBaseFreq
	}
	for name, v := range map[string]*float64{"final_logit_softcapping": c.FinalLogitSoftcapping, "attn_logit_softcapping": c.AttnLogitSoftcapping} {
		if v != nil {
			reals[name] = *v
		}
	}
	if err := modeling.PositiveFinite(path, reals); err != nil {
		return err
	}
	if err := modeling.DropoutRates(path, map[string]float64{"attention_dropout": c.AttentionDropout}); err != nil {
		return err
	}
	if err := modeling.CheckHeads(path, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim); err != nil {
		return err
	}
	if err := modeling.CheckActivation(path, "hidden_activation", c.HiddenActivation); err != nil {
		return err
	}
	if c.UseBidirectionalAttention != nil && *c.UseBidirectionalAttention {
		return fmt.Errorf("%s: field \"use_bidirectional_attention\" is true (an embedding model's encoder); only causal Gemma is supported", path)
	}
	if err := c.checkLayers(path); err != nil {
		return err
	}
	if _, _, err := c.rotaryInvFreqs(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// defaults fills the fields Hugging Face gives a default for (the two
// versions differ in rotary bases, context and window pattern).
func (c *Config) defaults() {
	g3 := c.ModelType == Gemma3
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = 4
	}
	if c.HeadDim == 0 {
		c.HeadDim = 256
	}
	if c.HiddenActivation == "" {
		c.HiddenActivation = "gelu_pytorch_tanh"
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	if c.QueryPreAttnScalar == 0 {
		c.QueryPreAttnScalar = 256
	}
	switch {
	case c.MaxPositionEmbeddings == 0 && g3:
		c.MaxPositionEmbeddings = 131072
	case c.MaxPositionEmbeddings == 0:
		c.MaxPositionEmbeddings = 8192
	}
	switch {
	case c.RopeTheta == 0 && g3:
		c.RopeTheta = 1e6
	case c.RopeTheta == 0:
		c.RopeTheta = 10000
	}
	if c.RopeLocalBaseFreq == 0 && g3 {
		c.RopeLocalBaseFreq = 10000
	}
	if c.LayerTypes == nil {
		pattern := 2 // Gemma 2: sliding, global, sliding, ...
		if g3 {
			pattern = c.SlidingWindowPattern
			if pattern <= 0 {
				pattern = 6
			}
		}
		for i := range min(c.NumHiddenLayers, modeling.MaxLayers) {
			kind := Sliding
			if (i+1)%pattern == 0 {
				kind = Full
			}
			c.LayerTypes = append(c.LayerTypes, kind)
		}
	}
}

// checkLayers checks layer_types against the layers and the window.
func (c *Config) checkLayers(path string) error {
	if len(c.LayerTypes) != c.NumHiddenLayers {
		return fmt.Errorf("%s: field \"layer_types\" has %d entries for %d layers (\"num_hidden_layers\")", path, len(c.LayerTypes), c.NumHiddenLayers)
	}
	for i, kind := range c.LayerTypes {
		if kind != Sliding && kind != Full {
			return fmt.Errorf("%s: field \"layer_types\": layer %d is %q; want %q or %q", path, i, kind, Sliding, Full)
		}
		if kind == Sliding && (c.SlidingWindow == nil || *c.SlidingWindow <= 0) {
			return fmt.Errorf("%s: field \"sliding_window\" must be positive: layer %d is %q", path, i, kind)
		}
	}
	return nil
}

// foldRopeParameters moves transformers 5's rope_parameters into
// RopeTheta, RopeScaling and RopeLocalBaseFreq, refusing a config that gives
// both layouts with different values.
func (c *Config) foldRopeParameters(path string) error {
	rp := c.RopeParameters
	if rp == nil {
		return nil
	}
	global := rp
	if c.ModelType == Gemma3 {
		if rp.RopeTheta != 0 || rp.Kind() != "default" {
			return fmt.Errorf("%s: field \"rope_parameters\": Gemma 3 gives one entry per layer type (%q, %q)", path, Sliding, Full)
		}
		global = rp.FullAttention
		if local := rp.SlidingAttention; local != nil {
			if local.Kind() != "default" {
				return fmt.Errorf("%s: field \"rope_parameters.sliding_attention\": rope_type %q on sliding layers is not supported", path, local.Kind())
			}
			if err := fold(path, "rope_local_base_freq", "rope_parameters.sliding_attention.rope_theta", &c.RopeLocalBaseFreq, local.RopeTheta); err != nil {
				return err
			}
		}
	}
	if global != nil {
		if err := fold(path, "rope_theta", "rope_parameters.rope_theta", &c.RopeTheta, global.RopeTheta); err != nil {
			return err
		}
		if global.Kind() != "default" {
			if c.RopeScaling != nil && *c.RopeScaling != global.RopeScaling {
				return fmt.Errorf("%s: fields \"rope_scaling\" and \"rope_parameters\" give different scalings", path)
			}
			c.RopeScaling = ptr(global.RopeScaling)
		}
	}
	c.RopeParameters = nil
	return nil
}

// fold sets *field to v (when given), unless the field already holds
// another value: then the config contradicts itself.
func fold(path, name, from string, field *float64, v float64) error {
	if v == 0 {
		return nil
	}
	if *field != 0 && *field != v {
		return fmt.Errorf("%s: field %q (%v) and %q (%v) differ", path, name, *field, from, v)
	}
	*field = v
	return nil
}

// rotaryInvFreqs returns the rotary inverse frequencies of the sliding and
// of the global layers: Gemma 3 gives the two their own base and scales
// only the global ones; Gemma 2 uses rope_theta (and its scaling) for both.
func (c *Config) rotaryInvFreqs() (local, global []float64, err error) {
	global, err = modeling.RotaryInvFreq(c.HeadDim, c.RopeTheta, c.RopeScaling)
	if err != nil || c.ModelType == Gemma2 {
		return global, global, err
	}
	local, err = modeling.RotaryInvFreq(c.HeadDim, c.RopeLocalBaseFreq, nil)
	return local, global, err
}

// LayerWindows returns each layer's attention window (0: global).
func (c *Config) LayerWindows() []int {
	w := make([]int, c.NumHiddenLayers)
	for i, kind := range c.LayerTypes {
		if kind == Sliding {
			w[i] = *c.SlidingWindow
		}
	}
	return w
}

// Scale returns the attention scale, query_pre_attn_scalar^-½.
func (c *Config) Scale() float64 { return 1 / math.Sqrt(c.QueryPreAttnScalar) }

// AttentionSoftCap returns the cap on attention scores (0: none). Hugging
// Face's Gemma 3 attention never passes attn_logit_softcapping on, so
// neither do we.
func (c *Config) AttentionSoftCap() float64 {
	if c.ModelType == Gemma3 || c.AttnLogitSoftcapping == nil {
		return 0
	}
	return *c.AttnLogitSoftcapping
}
