package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// pipeline runs a tokenizer.json as Hugging Face's tokenizers does: added
// tokens are cut out of the text, the normalizer rewrites the text between
// them, the pre-tokenizer cuts that into pieces, the model (BPE or
// Unigram) turns each piece into ids, and the decoder turns the tokens of
// ids back into text.
//
// It is our own rather than go-huggingface's hftokenizer, which gave other
// ids than Hugging Face on the goldens of the three small files in
// testdata/ (v0.4.12): 394 of 2,077 inputs of a T5-style Unigram (a greedy
// longest match instead of Viterbi), 1,715 of 2,077 of a LLaMA-2-style BPE
// (no byte fallback, Prepend ignored) and 102 of 2,077 of a Llama-3-style
// byte-level BPE. This pipeline matches Hugging Face's Rust tokenizers on
// all of them and on variants with T5's, ALBERT's, Mistral's and GPT-4o's
// components (see scripts/reference/README.md). Added tokens' lstrip,
// rstrip and single_word are not applied.
type pipeline struct {
	added       *addedTokens // matched in the raw text ("normalized": false); may be nil
	normAdded   *addedTokens // matched in the normalized text ("normalized": true); may be nil
	normalize   normalizer   // nil: none
	preTokenize preTokenizer // nil: each text is one piece
	model       wordModel
	decoder     decoder // nil: tokens joined with spaces, as Hugging Face does
}

// wordModel is a pipeline's model: it turns one piece into ids.
type wordModel interface {
	tokenize(ids []int, word string) []int
	vocabSize() int
	idToToken(id int) (string, bool)
	tokenToID(token string) (int, bool)
}

// componentJSON is a normalizer, pre-tokenizer or decoder object of
// tokenizer.json; each type reads the fields it has.
type componentJSON struct {
	Type          string            `json:"type"`
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`

	Prepend             *string      `json:"prepend"`
	Pattern             *patternJSON `json:"pattern"`
	Content             *string      `json:"content"`
	StripLeft           bool         `json:"strip_left"`
	StripRight          bool         `json:"strip_right"`
	Start               int          `json:"start"`
	Stop                int          `json:"stop"`
	PrecompiledCharsmap *string      `json:"precompiled_charsmap"`
	Replacement         *string      `json:"replacement"`
	PrependScheme       *string      `json:"prepend_scheme"`
	AddPrefixSpace      *bool        `json:"add_prefix_space"`
	Split               *bool        `json:"split"`
	UseRegex            *bool        `json:"use_regex"`
	Behavior            string       `json:"behavior"`
	Invert              bool         `json:"invert"`
	CleanText           *bool        `json:"clean_text"`
	HandleChineseChars  *bool        `json:"handle_chinese_chars"`
	StripAccents        *bool        `json:"strip_accents"`
	Lowercase           *bool        `json:"lowercase"`
}

// patternJSON is a Replace or Split pattern: {"String": …} or {"Regex": …}.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// replacer returns the function of a Replace normalizer or decoder: every
// match of its pattern replaced with its content.
func (c *componentJSON) replacer(file, field string) (func(string) string, error) {
	if c.Content == nil {
		return nil, fmt.Errorf("%s: field %s.content is missing", file, field)
	}
	pat, err := newPattern(file, field+".pattern", c.Pattern)
	if err != nil {
		return nil, err
	}
	content := *c.Content
	return func(s string) string { return pat.replaceAll(s, content) }, nil
}

// parseComponent decodes the component at field and builds it; a null
// or absent one gives the zero T (none).
func parseComponent[T any](file, field string, raw json.RawMessage, build func(file, field string, c *componentJSON) (T, error)) (T, error) {
	var zero T
	if len(raw) == 0 || string(raw) == "null" {
		return zero, nil
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return zero, fmt.Errorf("%s: field %s: %w", file, field, err)
	}
	if c.Type == "" {
		return zero, fmt.Errorf("%s: field %s.type is missing", file, field)
	}
	return build(file, field, &c)
}

// parseSequence builds the components of a Sequence, listed at field.
func parseSequence[T any](file, field string, raws []json.RawMessage, build func(file, field string, c *componentJSON) (T, error)) ([]T, error) {
	seq := make([]T, len(raws))
	for i, raw := range raws {
		at := fmt.Sprintf("%s[%d]", field, i)
		if len(raw) == 0 || string(raw) == "null" {
			return nil, fmt.Errorf("%s: field %s is null", file, at)
		}
		var err error
		if seq[i], err = parseComponent(file, at, raw, build); err != nil {
			return nil, err
		}
	}
	return seq, nil
}

// unsupportedError reports a tokenizer.json part this package does not
// implement (as opposed to a malformed file). Unless final, the file goes
// to go-huggingface instead; a final one (a regex Go cannot run) would be
// ignored there, so it is an error, unless a tokenizer.model stands beside.
type unsupportedError struct {
	msg   string
	final bool
}

func (e *unsupportedError) Error() string { return e.msg }

// unsupported returns an unsupportedError about field of file.
func unsupported(file, field, msg string) error {
	return &unsupportedError{msg: fmt.Sprintf("%s: field %s: %s", file, field, msg)}
}

// refused returns a final unsupportedError about field of file.
func refused(file, field, msg string) error {
	return &unsupportedError{msg: fmt.Sprintf("%s: field %s: %s", file, field, msg), final: true}
}

// unsupportedType returns the error for a component type outside list.
func unsupportedType(file, field, typ, list string) error {
	return unsupported(file, field+".type", fmt.Sprintf("%q is not supported (%s are)", typ, list))
}

// newPipeline builds the pipeline of a BPE or Unigram tokenizer.json. An
// *unsupportedError says which part it does not implement.
func newPipeline(file string, tj *tokenizerJSON) (*pipeline, error) {
	var raw, normalized []addedToken
	for _, a := range tj.AddedTokens {
		t := addedToken{id: a.ID, content: a.Content, special: a.Special}
		if a.Normalized {
			normalized = append(normalized, t)
		} else {
			raw = append(raw, t)
		}
	}
	p := &pipeline{added: newAddedTokens(raw), normAdded: newAddedTokens(normalized)}
	var err error
	if p.normalize, err = parseComponent(file, "normalizer", tj.components.Normalizer, newNormalizer); err != nil {
		return nil, err
	}
	if p.preTokenize, err = parseComponent(file, "pre_tokenizer", tj.components.PreTokenizer, newPreTokenizer); err != nil {
		return nil, err
	}
	if p.decoder, err = parseComponent(file, "decoder", tj.components.Decoder, newDecoder); err != nil {
		return nil, err
	}
	em := tj.extra.Model
	switch tj.Model.Type {
	case "BPE":
		if em.Dropout != nil && *em.Dropout > 0 {
			return nil, unsupported(file, "model.dropout", "BPE dropout (random merges) is not supported")
		}
		merges, err := parseMerges(file, em.Merges)
		if err != nil {
			return nil, err
		}
		p.model, err = newBPE(tj.Model.Vocab, merges, bpeOptions{
			unkToken: deref(em.UnkToken), fuseUnk: em.FuseUnk, byteFallback: em.ByteFallback, ignoreMerges: em.IgnoreMerges,
			prefix: deref(em.ContinuingSubwordPrefix), suffix: deref(em.EndOfWordSuffix),
			vocabFile: file, vocabField: "model.vocab", mergesFile: file, mergesField: "model.merges",
		})
		if err != nil {
			return nil, err
		}
	case "Unigram":
		if p.model, err = newUnigram(file, em.Vocab, em.UnkID, em.ByteFallback); err != nil {
			return nil, err
		}
	default:
		return nil, unsupported(file, "model.type", fmt.Sprintf("%s models run through go-huggingface", tj.Model.Type))
	}
	return p, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (p *pipeline) encode(text string) []int {
	return p.added.encode(nil, text, func(ids []int, s string, first bool) []int {
		if p.normalize != nil {
			s = p.normalize(s)
		}
		return p.normAdded.encode(ids, s, func(ids []int, s string, firstNormalized bool) []int {
			pieces := []piece{{text: s, atStart: first && firstNormalized}}
			if p.preTokenize != nil {
				pieces = p.preTokenize(pieces)
			}
			for _, pc := range pieces {
				ids = p.model.tokenize(ids, pc.text)
			}
			return ids
		})
	})
}

func (p *pipeline) decode(ids []int) []byte {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		if tok, ok := p.idToToken(id); ok {
			tokens = append(tokens, tok)
		}
	}
	return []byte(p.decodeTokens(tokens, false))
}

// decodeTokens runs the decoder (partial as for decoder).
func (p *pipeline) decodeTokens(tokens []string, partial bool) string {
	if p.decoder == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(p.decoder(tokens, partial), "")
}

// addedSets returns the pipeline's sets of added tokens that are not nil.
func (p *pipeline) addedSets() []*addedTokens {
	var sets []*addedTokens
	for _, a := range []*addedTokens{p.added, p.normAdded} {
		if a != nil {
			sets = append(sets, a)
		}
	}
	return sets
}

func (p *pipeline) vocabSize() int {
	n := p.model.vocabSize()
	for _, added := range p.addedSets() {
		for _, a := range added.list {
			if id, ok := p.model.tokenToID(a.content); !ok || id != a.id {
				n++
			}
		}
	}
	return n
}

func (p *pipeline) idToToken(id int) (string, bool) {
	for _, added := range p.addedSets() {
		if a, ok := added.byID[id]; ok {
			return a.content, true
		}
	}
	return p.model.idToToken(id)
}

func (p *pipeline) tokenToID(tok string) (int, bool) {
	for _, added := range p.addedSets() {
		if a, ok := added.byContent[tok]; ok {
			return a.id, true
		}
	}
	return p.model.tokenToID(tok)
}

// tokenBytes decodes the token on its own as a part of a longer text: no
// first-token rules (Metaspace's and Strip's leading space stays) and byte
// tokens as raw bytes.
func (p *pipeline) tokenBytes(id int) ([]byte, bool) {
	tok, ok := p.idToToken(id)
	if !ok {
		return nil, false
	}
	return []byte(p.decodeTokens([]string{tok}, true)), true
}
