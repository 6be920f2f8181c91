package bert

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config mirrors a BERT config.json field for field (Hugging Face's BertConfig).
type Config struct {
	ModelType                 string            `json:"model_type"`
	Architectures             []string          `json:"architectures,omitempty"`
	VocabSize                 int               `json:"vocab_size"`
	HiddenSize                int               `json:"hidden_size"`
	NumHiddenLayers           int               `json:"num_hidden_layers"`
	NumAttentionHeads         int               `json:"num_attention_heads"`
	IntermediateSize          int               `json:"intermediate_size"`
	HiddenAct                 string            `json:"hidden_act,omitempty"`
	HiddenDropoutProb         float64           `json:"hidden_dropout_prob,omitempty"`
	AttentionProbsDropoutProb float64           `json:"attention_probs_dropout_prob,omitempty"`
	MaxPositionEmbeddings     int               `json:"max_position_embeddings"`
	TypeVocabSize             int               `json:"type_vocab_size,omitempty"`
	InitializerRange          float64           `json:"initializer_range,omitempty"`
	LayerNormEps              float64           `json:"layer_norm_eps,omitempty"`
	PadTokenID                int               `json:"pad_token_id"`
	PositionEmbeddingType     string            `json:"position_embedding_type,omitempty"`
	UseCache                  *bool             `json:"use_cache,omitempty"`
	ClassifierDropout         *float64          `json:"classifier_dropout,omitempty"`
	ID2Label                  map[string]string `json:"id2label,omitempty"`
	Label2ID                  map[string]int    `json:"label2id,omitempty"`
	ProblemType               string            `json:"problem_type,omitempty"`
	TorchDtype                string            `json:"torch_dtype,omitempty"`
}

// Required lists the config.json fields that have no default here.
var Required = []string{"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings"}

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	cfg := &Config{}
	if err := modeling.ReadConfig(path, cfg, Required...); err != nil {
		return nil, err
	}
	return cfg, cfg.check(path)
}

func (c *Config) check(path string) error {
	if c.ModelType == "" {
		c.ModelType = "bert"
	}
	if c.HiddenAct == "" {
		c.HiddenAct = "gelu"
	}
	if c.TypeVocabSize == 0 {
		c.TypeVocabSize = 2
	}
	if c.LayerNormEps == 0 {
		c.LayerNormEps = 1e-12
	}
	if err := modeling.Bounded(path, map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize,
		"num_hidden_layers": c.NumHiddenLayers, "num_attention_heads": c.NumAttentionHeads,
		"intermediate_size": c.IntermediateSize, "max_position_embeddings": c.MaxPositionEmbeddings,
		"type_vocab_size": c.TypeVocabSize}, "num_hidden_layers"); err != nil {
		return err
	}
	if err := modeling.PositiveFinite(path, map[string]float64{"layer_norm_eps": c.LayerNormEps}); err != nil {
		return err
	}
	if err := modeling.DropoutRates(path, map[string]float64{"hidden_dropout_prob": c.HiddenDropoutProb,
		"attention_probs_dropout_prob": c.AttentionProbsDropoutProb}); err != nil {
		return err
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("%s: field \"num_attention_heads\" (%d) does not divide \"hidden_size\" (%d)", path, c.NumAttentionHeads, c.HiddenSize)
	}
	if err := modeling.CheckActivation(path, "hidden_act", c.HiddenAct); err != nil {
		return err
	}
	if c.PositionEmbeddingType != "" && c.PositionEmbeddingType != "absolute" {
		return fmt.Errorf("%s: field \"position_embedding_type\": %q not supported (only \"absolute\")", path, c.PositionEmbeddingType)
	}
	return nil
}

// HeadDim returns the size of one attention head.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// NumLabels returns the number of classes of a classification head (from id2label).
func (c *Config) NumLabels() int {
	if len(c.ID2Label) > 0 {
		return len(c.ID2Label)
	}
	return 2
}
