package phi3

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config mirrors a Phi-3 config.json field for field (Hugging Face's
// Phi3Config, which Phi-3, Phi-3.5 and Phi-4-mini use).
type Config struct {
	ModelType             string   `json:"model_type"`
	Architectures         []string `json:"architectures,omitempty"`
	VocabSize             int      `json:"vocab_size"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads,omitempty"`
	HeadDimField          int      `json:"head_dim,omitempty"` // not a Phi3Config field, but its attention reads one
	ResidPdrop            float64  `json:"resid_pdrop,omitempty"`
	EmbdPdrop             float64  `json:"embd_pdrop,omitempty"` // read by no layer in transformers 5.23
	AttentionDropout      float64  `json:"attention_dropout,omitempty"`
	HiddenAct             string   `json:"hidden_act,omitempty"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings,omitempty"`
	// OriginalMaxPositionEmbeddings is the context the model was trained
	// with before its longrope extension (4096 when unset): a call whose
	// positions pass it takes the long factors. Phi3Config lets it override
	// rope_scaling's own original_max_position_embeddings.
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty"`
	InitializerRange              float64 `json:"initializer_range,omitempty"`
	RMSNormEps                    float64 `json:"rms_norm_eps,omitempty"`
	UseCache                      *bool   `json:"use_cache,omitempty"`
	TieWordEmbeddings             bool    `json:"tie_word_embeddings"`
	RopeTheta                     float64 `json:"rope_theta,omitempty"`
	// PartialRotaryFactor is the share of each head's features that rotate
	// (Phi-4-mini: 0.75); 1 when unset.
	PartialRotaryFactor float64      `json:"partial_rotary_factor,omitempty"`
	RopeScaling         *RopeScaling `json:"rope_scaling,omitempty"`
	// RopeParameters is how transformers 5 writes rope_theta,
	// partial_rotary_factor and rope_scaling, as one object; check folds it
	// into those fields.
	RopeParameters *RopeScaling `json:"rope_parameters,omitempty"`
	BosTokenID     *int         `json:"bos_token_id,omitempty"`
	EosTokenID     any          `json:"eos_token_id,omitempty"` // an id or a list of ids
	PadTokenID     *int         `json:"pad_token_id,omitempty"`
	SlidingWindow  *int         `json:"sliding_window,omitempty"`
	TorchDtype     string       `json:"torch_dtype,omitempty"`
}

// RopeScaling mirrors Phi-3's "rope_scaling" (and transformers 5's
// "rope_parameters", which also holds rope_theta and
// partial_rotary_factor). Its only scaling is "longrope" (older configs
// say "su"; Phi3Config also renames "yarn" to it).
type RopeScaling struct {
	RopeType        string    `json:"rope_type,omitempty"`
	Type            string    `json:"type,omitempty"`
	ShortFactor     []float64 `json:"short_factor,omitempty"`
	LongFactor      []float64 `json:"long_factor,omitempty"`
	Factor          *float64  `json:"factor,omitempty"`
	AttentionFactor *float64  `json:"attention_factor,omitempty"`
	// OriginalMaxPositionEmbeddings is ignored: the config's own field
	// (4096 when unset) takes its place, as in Phi3Config.
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty"`
	RopeTheta                     float64 `json:"rope_theta,omitempty"`
	PartialRotaryFactor           float64 `json:"partial_rotary_factor,omitempty"`
}

// Kind returns the scaling type ("default" or "longrope"), from rope_type or
// the older type field, with Phi3Config's aliases resolved.
func (r *RopeScaling) Kind() string {
	kind := "default"
	switch {
	case r == nil:
	case r.RopeType != "":
		kind = r.RopeType
	case r.Type != "":
		kind = r.Type
	}
	if kind == "su" || kind == "yarn" {
		return "longrope"
	}
	return kind
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

// foldRopeParameters moves rope_parameters into RopeTheta,
// PartialRotaryFactor and RopeScaling, refusing a config whose two layouts
// disagree.
func (c *Config) foldRopeParameters(path string) error {
	rp := c.RopeParameters
	if rp == nil {
		return nil
	}
	for _, f := range []struct {
		name      string
		top, nest *float64
	}{{"rope_theta", &c.RopeTheta, &rp.RopeTheta}, {"partial_rotary_factor", &c.PartialRotaryFactor, &rp.PartialRotaryFactor}} {
		if *f.top != 0 && *f.nest != 0 && *f.top != *f.nest {
			return fmt.Errorf("%s: field %q (%v) and \"rope_parameters.%s\" (%v) differ", path, f.name, *f.top, f.name, *f.nest)
		}
		if *f.nest != 0 {
			*f.top = *f.nest
		}
	}
	if rp.Kind() != "default" {
		if c.RopeScaling != nil {
			return fmt.Errorf("%s: fields \"rope_scaling\" and \"rope_parameters\" both give a scaling", path)
		}
		scaling := *rp
		scaling.RopeTheta, scaling.PartialRotaryFactor = 0, 0
		c.RopeScaling = &scaling
	}
	c.RopeParameters = nil
	return nil
}

// defaults fills Phi3Config's defaults.
func (c *Config) defaults() {
	if c.ModelType == "" {
		c.ModelType = "phi3"
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.HiddenAct == "" {
		c.HiddenAct = "silu"
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-5
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = 4096
	}
	if c.OriginalMaxPositionEmbeddings == 0 {
		c.OriginalMaxPositionEmbeddings = 4096
	}
	if c.PartialRotaryFactor == 0 {
		c.PartialRotaryFactor = 1
	}
}

// check fills Hugging Face's defaults and validates the sizes.
func (c *Config) check(path string) error {
	if err := c.foldRopeParameters(path); err != nil {
		return err
	}
	c.defaults()
	if err := modeling.Bounded(path, map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize,
		"intermediate_size": c.IntermediateSize, "num_hidden_layers": c.NumHiddenLayers,
		"num_attention_heads": c.NumAttentionHeads, "num_key_value_heads": c.NumKeyValueHeads,
		"max_position_embeddings": c.MaxPositionEmbeddings, "original_max_position_embeddings": c.OriginalMaxPositionEmbeddings},
		"num_hidden_layers"); err != nil {
		return err
	}
	if err := modeling.PositiveFinite(path, map[string]float64{"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta,
		"partial_rotary_factor": c.PartialRotaryFactor}); err != nil {
		return err
	}
	if c.PartialRotaryFactor > 1 {
		return fmt.Errorf("%s: field \"partial_rotary_factor\" is a share of the head, at most 1; got %v", path, c.PartialRotaryFactor)
	}
	if err := modeling.DropoutRates(path, map[string]float64{"attention_dropout": c.AttentionDropout,
		"resid_pdrop": c.ResidPdrop, "embd_pdrop": c.EmbdPdrop}); err != nil {
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
	if p := c.PadTokenID; p != nil && (*p < -c.VocabSize || *p >= c.VocabSize) {
		return fmt.Errorf("%s: field \"pad_token_id\" (%d) is outside the vocabulary of %d (nn.Embedding's padding_idx must index it)", path, *p, c.VocabSize)
	}
	if d := c.RotaryDim(); d <= 0 || d%2 != 0 {
		return fmt.Errorf("%s: field \"partial_rotary_factor\" (%v) rotates %d of each head's %d features; the rotary embedding needs a positive even number",
			path, c.PartialRotaryFactor, d, c.HeadDim())
	}
	if _, err := c.Rotary(); err != nil {
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

// RotaryDim returns how many features of each head rotate:
// head_dim × partial_rotary_factor, rounded down as Python's int() does.
func (c *Config) RotaryDim() int { return int(float64(c.HeadDim()) * c.PartialRotaryFactor) }

// Rotary returns the rotary embedding the config describes: rope_theta over
// RotaryDim features, with longrope's short and long factors when
// rope_scaling says so.
func (c *Config) Rotary() (modeling.Rotary, error) {
	switch kind := c.RopeScaling.Kind(); kind {
	case "default":
		inv, err := modeling.RotaryInvFreq(c.RotaryDim(), c.RopeTheta, nil)
		return modeling.Rotary{Short: inv}, err
	case "longrope":
		s := c.RopeScaling
		return modeling.LongRope(modeling.LongRopeParams{Dim: c.RotaryDim(), Theta: c.RopeTheta,
			Short: s.ShortFactor, Long: s.LongFactor, Factor: s.Factor, AttentionFactor: s.AttentionFactor,
			OriginalMaxPositions: c.OriginalMaxPositionEmbeddings, MaxPositions: c.MaxPositionEmbeddings})
	default:
		return modeling.Rotary{}, fmt.Errorf("rope_scaling: type %q not supported (Phi-3 supports longrope)", kind)
	}
}

// PaddingRow returns the embedding row of pad_token_id (a negative id
// counts from the end, as nn.Embedding's padding_idx does), and whether the
// config has one.
func (c *Config) PaddingRow() (int, bool) {
	if c.PadTokenID == nil {
		return 0, false
	}
	if p := *c.PadTokenID; p < 0 {
		return p + c.VocabSize, true
	}
	return *c.PadTokenID, true
}

// Window returns the sliding attention window, 0 when there is none.
func (c *Config) Window() int {
	if c.SlidingWindow == nil {
		return 0
	}
	return *c.SlidingWindow
}

// EOSTokenIDs returns eos_token_id as a list.
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
