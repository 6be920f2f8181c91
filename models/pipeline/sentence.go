package pipeline

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// The sentence-transformers pooling modes, in the order their vectors are
// concatenated when several are on (sentence-transformers' Pooling).
const (
	PoolCLS          = "cls"
	PoolMax          = "max"
	PoolMean         = "mean"
	PoolMeanSqrtLen  = "mean_sqrt_len_tokens"
	PoolWeightedMean = "weightedmean"
	PoolLastToken    = "lasttoken"
)

// poolingModes lists the modes with the legacy boolean key of each, in
// concatenation order.
var poolingModes = []struct{ mode, legacy string }{
	{PoolCLS, "pooling_mode_cls_token"}, {PoolMax, "pooling_mode_max_tokens"}, {PoolMean, "pooling_mode_mean_tokens"},
	{PoolMeanSqrtLen, "pooling_mode_mean_sqrt_len_tokens"}, {PoolWeightedMean, "pooling_mode_weightedmean_tokens"},
	{PoolLastToken, "pooling_mode_lasttoken"},
}

// SentenceEmbedding is a sentence-transformers model (all-MiniLM-L6-v2 and
// the like) read the way sentence-transformers' SentenceTransformer reads
// its folder: modules.json's Transformer, Pooling and Normalize modules,
// sentence_bert_config.json's max_seq_length and do_lower_case, the Pooling
// module's config.json (pooling modes, include_prompt) and
// config_sentence_transformers.json's default prompt. A folder without
// modules.json is a Transformer with mean pooling, as sentence-transformers
// makes of a plain model. The Transformer must be a BERT model; other
// modules (Dense, LayerNorm …) are refused.
//
// The fields may be changed before Encode.
type SentenceEmbedding struct {
	Model     *bert.Model
	Tokenizer *tokenizer.Tokenizer
	// MaxSeqLength is where texts are cut, in tokens, [CLS] and [SEP]
	// included.
	MaxSeqLength int
	// DoLowerCase lowercases texts before they are tokenized.
	DoLowerCase bool
	// Pooling lists the pooling modes (PoolMean …) whose vectors are
	// concatenated, in poolingModes' order.
	Pooling []string
	// IncludePrompt is false when the prompt's tokens are left out of the
	// pooling.
	IncludePrompt bool
	// Normalize scales each embedding to unit length (the Normalize module).
	Normalize bool
	// Prompt is put before every text: the default prompt of
	// config_sentence_transformers.json, when it names one.
	Prompt string
	// BatchSize is how many texts run through the model at once.
	BatchSize int
}

// NewSentenceEmbedding loads the sentence-transformers model at path (a
// folder or a Hub name). Errors name the file and field at fault.
func NewSentenceEmbedding(path string, backend compute.Backend) (*SentenceEmbedding, error) {
	dir, err := models.Resolve(path)
	if err != nil {
		return nil, err
	}
	mods, err := readModules(dir)
	if err != nil {
		return nil, err
	}
	if mods == nil { // a plain model: sentence-transformers adds mean pooling
		mods = &stModules{}
	}
	m, tok, err := encoder("sentence embedding", filepath.Join(dir, mods.transformer), backend,
		bert.Base, bert.MaskedLM, bert.SequenceClassification, bert.TokenClassification, bert.QuestionAnswering)
	if err != nil {
		return nil, err
	}
	p := &SentenceEmbedding{Model: m, Tokenizer: tok, Pooling: []string{PoolMean}, IncludePrompt: true, Normalize: mods.normalize, BatchSize: 32}
	maxPos := m.Config.MaxPositionEmbeddings
	p.MaxSeqLength = maxPos
	if tok.ModelMaxLength > 0 {
		p.MaxSeqLength = min(tok.ModelMaxLength, maxPos)
	}
	if !mods.found {
		return p, nil
	}
	if err := p.readTransformerConfig(filepath.Join(dir, mods.transformer, "sentence_bert_config.json"), maxPos); err != nil {
		return nil, err
	}
	if err := p.readPooling(filepath.Join(dir, mods.pooling, "config.json")); err != nil {
		return nil, err
	}
	if err := p.readPrompt(filepath.Join(dir, "config_sentence_transformers.json")); err != nil {
		return nil, err
	}
	return p, nil
}

// stModules are the module folders modules.json names.
type stModules struct {
	found                bool
	transformer, pooling string
	normalize            bool
}

// readModules reads dir/modules.json: a Transformer, then a Pooling, then
// optionally a Normalize module. It returns nil when the file is absent.
func readModules(dir string) (*stModules, error) {
	file := filepath.Join(dir, "modules.json")
	var list []struct {
		Path string `json:"path"`
		Type string `json:"type"`
	}
	if err := readJSON(file, &list); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	want := []string{"Transformer", "Pooling", "Normalize"}
	mods := &stModules{found: true}
	for i, mod := range list {
		kind := mod.Type[strings.LastIndexByte(mod.Type, '.')+1:]
		if i >= len(want) || kind != want[i] {
			return nil, fmt.Errorf("%s: module %d is %q: supported are a Transformer, a Pooling and optionally a Normalize module, in that order", file, i, mod.Type)
		}
		if !filepath.IsLocal(mod.Path) && mod.Path != "" {
			return nil, fmt.Errorf("%s: module %d: path %q leaves the model folder", file, i, mod.Path)
		}
		switch kind {
		case "Transformer":
			mods.transformer = mod.Path
		case "Pooling":
			mods.pooling = mod.Path
		case "Normalize":
			mods.normalize = true
		}
	}
	if len(list) < 2 {
		return nil, fmt.Errorf("%s: %d modules: a Transformer and a Pooling module are needed", file, len(list))
	}
	return mods, nil
}

// readTransformerConfig reads sentence_bert_config.json, when there is one.
func (p *SentenceEmbedding) readTransformerConfig(file string, maxPos int) error {
	var c struct {
		MaxSeqLength *int `json:"max_seq_length"`
		DoLowerCase  bool `json:"do_lower_case"`
	}
	if err := readJSON(file, &c); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	p.DoLowerCase = c.DoLowerCase
	if c.MaxSeqLength != nil {
		if *c.MaxSeqLength < 1 || *c.MaxSeqLength > maxPos {
			return fmt.Errorf("%s: field max_seq_length: %d is outside 1 … %d (the model's max_position_embeddings)", file, *c.MaxSeqLength, maxPos)
		}
		p.MaxSeqLength = *c.MaxSeqLength
	}
	return nil
}

// readPooling reads the Pooling module's config.json: the pooling mode as
// a name or a list of names, or, in older files, as boolean
// pooling_mode_*_token(s) keys (none on meaning mean).
func (p *SentenceEmbedding) readPooling(file string) error {
	var c struct {
		Dim           *int            `json:"embedding_dimension"`
		LegacyDim     *int            `json:"word_embedding_dimension"`
		Mode          json.RawMessage `json:"pooling_mode"`
		IncludePrompt *bool           `json:"include_prompt"`
	}
	if err := readJSON(file, &c); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := readJSON(file, &raw); err != nil {
		return err
	}
	if dim := cmp.Or(c.Dim, c.LegacyDim); dim != nil && *dim != p.Model.Config.HiddenSize {
		return fmt.Errorf("%s: field embedding_dimension: %d, but the model's hidden_size is %d", file, *dim, p.Model.Config.HiddenSize)
	}
	if c.IncludePrompt != nil {
		p.IncludePrompt = *c.IncludePrompt
	}
	modes, err := poolingFields(file, raw, c.Mode)
	if err != nil {
		return err
	}
	p.Pooling = modes
	return nil
}

// poolingFields returns the pooling modes of a Pooling config: mode (a name
// or a list of names) when given, else the legacy boolean keys in raw.
func poolingFields(file string, raw map[string]json.RawMessage, mode json.RawMessage) ([]string, error) {
	var modes []string
	if len(mode) > 0 && string(mode) != "null" {
		var one string
		if json.Unmarshal(mode, &one) == nil {
			modes = []string{one}
		} else if err := json.Unmarshal(mode, &modes); err != nil || len(modes) == 0 {
			return nil, fmt.Errorf("%s: field pooling_mode: want a mode name or a list of them, got %s", file, mode)
		}
		for _, m := range modes {
			if !slices.ContainsFunc(poolingModes, func(pm struct{ mode, legacy string }) bool { return pm.mode == m }) {
				return nil, fmt.Errorf("%s: field pooling_mode: unknown mode %q (want cls, max, mean, mean_sqrt_len_tokens, weightedmean or lasttoken)", file, m)
			}
		}
		return modes, nil
	}
	for _, pm := range poolingModes {
		var on bool
		if v, ok := raw[pm.legacy]; ok {
			if err := json.Unmarshal(v, &on); err != nil {
				return nil, fmt.Errorf("%s: field %s: want true or false, got %s", file, pm.legacy, v)
			}
		}
		if on {
			modes = append(modes, pm.mode)
		}
	}
	if len(modes) == 0 {
		modes = []string{PoolMean}
	}
	return modes, nil
}

// readPrompt reads config_sentence_transformers.json's default prompt, when
// the file names one.
func (p *SentenceEmbedding) readPrompt(file string) error {
	var c struct {
		Prompts map[string]string `json:"prompts"`
		Default *string           `json:"default_prompt_name"`
	}
	if err := readJSON(file, &c); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if c.Default == nil {
		return nil
	}
	prompt, ok := c.Prompts[*c.Default]
	if !ok {
		return fmt.Errorf("%s: field default_prompt_name: %q is not one of the prompts", file, *c.Default)
	}
	p.Prompt = prompt
	return nil
}

// readJSON decodes file into v; a missing file is an error wrapping
// fs.ErrNotExist.
func readJSON(file string, v any) error {
	data, err := files.ReadFile(file, files.ConfigLimit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// Encode returns the embedding of each text: Prompt put before it,
// lowercased with DoLowerCase, cut at MaxSeqLength tokens, run through the
// model, pooled and, with Normalize, scaled to unit length.
func (p *SentenceEmbedding) Encode(texts []string) ([][]float32, error) {
	if p.MaxSeqLength < 1 || p.MaxSeqLength > p.Model.Config.MaxPositionEmbeddings {
		return nil, fmt.Errorf("sentence embedding: MaxSeqLength %d is outside 1 … %d", p.MaxSeqLength, p.Model.Config.MaxPositionEmbeddings)
	}
	skip := 0
	if p.Prompt != "" && !p.IncludePrompt {
		skip = p.promptLength()
	}
	var out [][]float32
	for start := 0; start < len(texts); start += max(p.BatchSize, 1) {
		batch := texts[start:min(start+max(p.BatchSize, 1), len(texts))]
		vecs, err := p.encodeBatch(batch, skip)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// prepare returns text as the tokenizer receives it.
func (p *SentenceEmbedding) prepare(text string) string {
	text = p.Prompt + text
	if p.DoLowerCase {
		text = strings.ToLower(text)
	}
	return text
}

// promptLength is the prompt's length in tokens without a final special
// token ([SEP]), as sentence-transformers measures it.
func (p *SentenceEmbedding) promptLength() int {
	ids := p.Tokenizer.EncodeWith(p.prepare(""), tokenizer.EncodeOptions{MaxLength: p.MaxSeqLength})
	n := len(ids)
	if n > 0 && p.Tokenizer.IsSpecial(ids[n-1]) {
		n--
	}
	return n
}

// encodeBatch embeds texts, the first skip tokens of each left out of the
// pooling.
func (p *SentenceEmbedding) encodeBatch(texts []string, skip int) ([][]float32, error) {
	prepared := make([]string, len(texts))
	for i, t := range texts {
		prepared[i] = p.prepare(t)
	}
	b, out, err := encodeBatch(p.Model, p.Tokenizer, prepared, p.MaxSeqLength)
	if err != nil {
		return nil, err
	}
	return pooled(b, out, p.Model.Config.HiddenSize, skip, p.Pooling, p.Normalize)
}

// pooled pools each row of out's sequence (d wide) over its real tokens
// after the first skip, with modes (see pool), scaled to unit length when
// norm is set.
func pooled(b *tokenizer.Batch, out *bert.Output, d, skip int, modes []string, norm bool) ([][]float32, error) {
	seq, err := tensors.CopyFlatData[float32](out.Sequence)
	if err != nil {
		return nil, err
	}
	t := len(b.IDs[0])
	vecs := make([][]float32, len(b.IDs))
	for i := range vecs {
		mask := make([]float64, t)
		for j := range t {
			if j >= skip && b.AttentionMask[i][j] != 0 {
				mask[j] = 1
			}
		}
		v := pool(seq[i*t*d:(i+1)*t*d], mask, d, modes)
		if norm {
			normalize(v)
		}
		vecs[i] = make([]float32, len(v))
		for k, x := range v {
			vecs[i][k] = float32(x)
		}
	}
	return vecs, nil
}

// pool concatenates the vectors of modes over one text's token vectors
// tokens ([T, d], row-major) where mask is 1, as sentence-transformers'
// Pooling does for right-padded rows.
func pool(tokens []float32, mask []float64, d int, modes []string) []float64 {
	at := func(j, k int) float64 { return float64(tokens[j*d+k]) }
	var out []float64
	for _, mode := range modes {
		v := make([]float64, d)
		switch mode {
		case PoolCLS: // the first position kept (0 when none is)
			first := max(slices.Index(mask, 1), 0)
			for k := range d {
				v[k] = at(first, k)
			}
		case PoolMax:
			for k := range d {
				v[k] = math.Inf(-1)
				for j, m := range mask {
					if m != 0 {
						v[k] = max(v[k], at(j, k))
					}
				}
			}
		case PoolMean, PoolMeanSqrtLen, PoolWeightedMean:
			total := 0.0
			for j, m := range mask {
				w := m
				if mode == PoolWeightedMean {
					w *= float64(j + 1)
				}
				total += w
				for k := range d {
					v[k] += w * at(j, k)
				}
			}
			total = max(total, 1e-9)
			if mode == PoolMeanSqrtLen {
				total = math.Sqrt(total)
			}
			for k := range v {
				v[k] /= total
			}
		case PoolLastToken: // the last position kept (zeros when none is)
			last := len(mask) - 1
			for last > 0 && mask[last] == 0 {
				last--
			}
			for k := range d {
				v[k] = at(last, k) * mask[last]
			}
		}
		out = append(out, v...)
	}
	return out
}

// normalize scales v to unit length (F.normalize: by max(‖v‖, 1e-12)).
func normalize(v []float64) {
	norm := 0.0
	for _, x := range v {
		norm += x * x
	}
	norm = max(math.Sqrt(norm), 1e-12)
	for k := range v {
		v[k] /= norm
	}
}
