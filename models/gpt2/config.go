package gpt2

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config mirrors a GPT-2 config.json field for field (Hugging Face's GPT2Config).
type Config struct {
	ModelType                  string   `json:"model_type"`
	Architectures              []string `json:"architectures,omitempty"`
	VocabSize                  int      `json:"vocab_size"`
	NPositions                 int      `json:"n_positions"`
	NCtx                       int      `json:"n_ctx,omitempty"`
	NEmbd                      int      `json:"n_embd"`
	NLayer                     int      `json:"n_layer"`
	NHead                      int      `json:"n_head"`
	NInner                     *int     `json:"n_inner"`
	ActivationFunction         string   `json:"activation_function,omitempty"`
	ResidPdrop                 float64  `json:"resid_pdrop,omitempty"`
	EmbdPdrop                  float64  `json:"embd_pdrop,omitempty"`
	AttnPdrop                  float64  `json:"attn_pdrop,omitempty"`
	LayerNormEpsilon           float64  `json:"layer_norm_epsilon,omitempty"`
	InitializerRange           float64  `json:"initializer_range,omitempty"`
	ScaleAttnWeights           *bool    `json:"scale_attn_weights,omitempty"`
	ScaleAttnByInverseLayerIdx bool     `json:"scale_attn_by_inverse_layer_idx,omitempty"`
	ReorderAndUpcastAttn       bool     `json:"reorder_and_upcast_attn,omitempty"`
	// BosTokenID and EosTokenID are nil for null: written as null rather
	// than left out, since Hugging Face reads a missing one as GPT-2's
	// 50256.
	BosTokenID        *int   `json:"bos_token_id"`
	EosTokenID        *int   `json:"eos_token_id"`
	TieWordEmbeddings *bool  `json:"tie_word_embeddings,omitempty"`
	TorchDtype        string `json:"torch_dtype,omitempty"`
}

// Required lists the config.json fields that have no default here.
var Required = []string{"vocab_size", "n_positions", "n_embd", "n_layer", "n_head"}

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	cfg := &Config{}
	if err := modeling.ReadConfig(path, cfg, Required...); err != nil {
		return nil, err
	}
	return cfg, cfg.check(path)
}

// check fills Hugging Face's defaults and validates sizes; path names the file in errors.
func (c *Config) check(path string) error {
	if c.ModelType == "" {
		c.ModelType = "gpt2"
	}
	if c.ActivationFunction == "" {
		c.ActivationFunction = "gelu_new"
	}
	if c.LayerNormEpsilon == 0 {
		c.LayerNormEpsilon = 1e-5
	}
	if err := modeling.Bounded(path, map[string]int{"vocab_size": c.VocabSize, "n_positions": c.NPositions,
		"n_embd": c.NEmbd, "n_layer": c.NLayer, "n_head": c.NHead}, "n_layer"); err != nil {
		return err
	}
	if err := modeling.PositiveFinite(path, map[string]float64{"layer_norm_epsilon": c.LayerNormEpsilon}); err != nil {
		return err
	}
	if err := modeling.DropoutRates(path, map[string]float64{"resid_pdrop": c.ResidPdrop, "embd_pdrop": c.EmbdPdrop, "attn_pdrop": c.AttnPdrop}); err != nil {
		return err
	}
	if c.TieWordEmbeddings != nil && !*c.TieWordEmbeddings {
		return fmt.Errorf("%s: field \"tie_word_embeddings\" is false: GPT-2's LM head is its token embedding here (an untied head is not supported)", path)
	}
	if c.NEmbd%c.NHead != 0 {
		return fmt.Errorf("%s: field \"n_head\" (%d) does not divide \"n_embd\" (%d)", path, c.NHead, c.NEmbd)
	}
	if c.NInner != nil && (*c.NInner <= 0 || *c.NInner > modeling.MaxSize) {
		return fmt.Errorf("%s: field \"n_inner\" must be positive (at most %d) or null, got %d", path, modeling.MaxSize, *c.NInner)
	}
	if err := modeling.CheckActivation(path, "activation_function", c.ActivationFunction); err != nil {
		return err
	}
	if c.ReorderAndUpcastAttn {
		// Upcasting only changes half-precision runs; we compute in float32.
		c.ReorderAndUpcastAttn = false
	}
	return nil
}

// Inner returns the MLP width: n_inner, or 4·n_embd when it is null.
func (c *Config) Inner() int {
	if c.NInner != nil {
		return *c.NInner
	}
	return 4 * c.NEmbd
}

// HeadDim returns the size of one attention head.
func (c *Config) HeadDim() int { return c.NEmbd / c.NHead }
