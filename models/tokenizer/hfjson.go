package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/gomlx/go-huggingface/tokenizers/api"
	"github.com/gomlx/go-huggingface/tokenizers/hftokenizer"
)

// tokenizerJSON holds the parts of a tokenizer.json file that
// go-huggingface's hftokenizer.TokenizerJSON does not keep.
type tokenizerJSON struct {
	hftokenizer.TokenizerJSON
	// inferredType is set when model.type was absent and read from the
	// model's fields, as Hugging Face does (bert-base-uncased's file has
	// no type).
	inferredType bool
	// components are the normalizer, pre-tokenizer and decoder as written,
	// for the pipeline to build.
	components struct {
		Normalizer   json.RawMessage `json:"normalizer"`
		PreTokenizer json.RawMessage `json:"pre_tokenizer"`
		Decoder      json.RawMessage `json:"decoder"`
	}
	extra struct {
		PreTokenizer *struct {
			Type string `json:"type"`
		} `json:"pre_tokenizer"`
		PostProcessor *postProcessorJSON `json:"post_processor"`
		Decoder       *struct {
			Type    string `json:"type"`
			Prefix  string `json:"prefix"`
			Cleanup *bool  `json:"cleanup"`
		} `json:"decoder"`
		Model struct {
			Type                    string          `json:"type"`
			Vocab                   json.RawMessage `json:"vocab"`
			Merges                  json.RawMessage `json:"merges"`
			UnkToken                *string         `json:"unk_token"`
			UnkID                   *int            `json:"unk_id"`
			ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
			EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
			FuseUnk                 bool            `json:"fuse_unk"`
			ByteFallback            bool            `json:"byte_fallback"`
			IgnoreMerges            bool            `json:"ignore_merges"`
			MaxInputCharsPerWord    *int            `json:"max_input_chars_per_word"`
			Dropout                 *float64        `json:"dropout"`
		} `json:"model"`
	}
}

// postProcessorJSON is tokenizer.json's post_processor.
type postProcessorJSON struct {
	Type          string             `json:"type"`
	Single        []templateItemJSON `json:"single"`
	Pair          []templateItemJSON `json:"pair"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	Sep        []json.RawMessage   `json:"sep"` // ["[SEP]", 102]
	Cls        []json.RawMessage   `json:"cls"`
	Processors []postProcessorJSON `json:"processors"`
}

type templateItemJSON struct {
	SpecialToken *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"Sequence"`
}

// parseTokenizerJSON parses content, naming file in errors.
func parseTokenizerJSON(file string, content []byte) (*tokenizerJSON, error) {
	tj := &tokenizerJSON{}
	// The extra fields first: their errors name the field's full path
	// (go-huggingface's model decoder loses the "model." part).
	if err := json.Unmarshal(content, &tj.extra); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := json.Unmarshal(content, &tj.components); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := json.Unmarshal(content, &tj.TokenizerJSON); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	switch tj.Model.Type {
	case "", "BPE", "WordPiece", "Unigram":
	default: // before the vocabulary, whose layout depends on the type
		return nil, fmt.Errorf("%s: field model.type: %q is not supported (BPE, WordPiece and Unigram are)", file, tj.Model.Type)
	}
	if len(tj.Model.Vocab) == 0 {
		return nil, fmt.Errorf("%s: field model.vocab is missing, empty or malformed", file)
	}
	if tj.Model.Type == "" {
		// Hugging Face reads an untyped model as the first kind whose
		// fields it has.
		em := tj.extra.Model
		switch {
		case len(em.Merges) > 0:
			tj.Model.Type = "BPE"
		case em.ContinuingSubwordPrefix != nil:
			tj.Model.Type = "WordPiece"
		case strings.HasPrefix(strings.TrimSpace(string(em.Vocab)), "["):
			tj.Model.Type = "Unigram"
		default:
			return nil, fmt.Errorf("%s: field model.type is missing and the model's fields match no BPE, WordPiece or Unigram model", file)
		}
		tj.inferredType = true
	}
	switch tj.Model.Type {
	case "BPE", "WordPiece", "Unigram":
	default:
		return nil, fmt.Errorf("%s: field model.type: %q is not supported (BPE, WordPiece and Unigram are)", file, tj.Model.Type)
	}
	if err := tj.checkIDs(file); err != nil {
		return nil, err
	}
	return tj, nil
}

// maxID is the largest token id: ids are int32, as models take them
// (Hugging Face's are u32, and a larger one is an error there too).
const maxID = math.MaxInt32

// checkIDs refuses the token ids and sizes tokenizer.json gives that no
// tokenizer can use: added tokens' and the post-processor's ids outside 0
// to maxID (which would be cut to 32 bits, or make their text vanish), and
// a negative max_input_chars_per_word.
func (tj *tokenizerJSON) checkIDs(file string) error {
	for i, a := range tj.AddedTokens {
		if a.ID < 0 || a.ID > maxID {
			return fmt.Errorf("%s: field added_tokens[%d].id: %d (%q) is not a token id (0 to %d)", file, i, a.ID, a.Content, maxID)
		}
	}
	if n := tj.extra.Model.MaxInputCharsPerWord; n != nil && *n < 0 {
		return fmt.Errorf("%s: field model.max_input_chars_per_word: %d is negative", file, *n)
	}
	if pp := tj.extra.PostProcessor; pp != nil {
		return pp.checkIDs(file, "post_processor")
	}
	return nil
}

func (pp *postProcessorJSON) checkIDs(file, field string) error {
	for name, st := range pp.SpecialTokens {
		for i, id := range st.IDs {
			if id < 0 || id > maxID {
				return fmt.Errorf("%s: field %s.special_tokens[%q].ids[%d]: %d is not a token id (0 to %d)", file, field, name, i, id, maxID)
			}
		}
	}
	for _, t := range []struct {
		name string
		raw  []json.RawMessage
	}{{"cls", pp.Cls}, {"sep", pp.Sep}} {
		if t.raw == nil {
			continue
		}
		id, err := tupleID(file, field+"."+t.name, t.raw)
		if err != nil {
			return err
		}
		if id < 0 || id > maxID {
			return fmt.Errorf("%s: field %s.%s: %d is not a token id (0 to %d)", file, field, t.name, id, maxID)
		}
	}
	for i := range pp.Processors {
		if err := pp.Processors[i].checkIDs(file, fmt.Sprintf("%s.processors[%d]", field, i)); err != nil {
			return err
		}
	}
	return nil
}

// bertWordPiece reports whether tj is BERT's WordPiece pipeline
// (BertPreTokenizer, BertNormalizer or none), which wordPiece implements.
func (tj *tokenizerJSON) bertWordPiece() bool {
	pt := tj.extra.PreTokenizer
	return tj.Model.Type == "WordPiece" && pt != nil && pt.Type == "BertPreTokenizer" &&
		(tj.Normalizer == nil || tj.Normalizer.Type == "BertNormalizer")
}

// addedTokens returns tokenizer.json's added_tokens.
func (tj *tokenizerJSON) addedTokens() []addedToken {
	var list []addedToken
	for _, a := range tj.AddedTokens {
		list = append(list, addedToken{id: a.ID, content: a.Content, special: a.Special})
	}
	return list
}

// template returns the post-processor's template.
func (tj *tokenizerJSON) template(file string) (template, error) {
	if tj.extra.PostProcessor == nil {
		return template{}, nil
	}
	return tj.extra.PostProcessor.template(file)
}

func (pp *postProcessorJSON) template(file string) (template, error) {
	switch pp.Type {
	case "TemplateProcessing":
		var t template
		var err error
		if t.single, err = pp.items(file, "single", pp.Single); err != nil {
			return t, err
		}
		t.pair, err = pp.items(file, "pair", pp.Pair)
		return t, err
	case "BertProcessing", "RobertaProcessing":
		cls, err := tupleID(file, "post_processor.cls", pp.Cls)
		if err != nil {
			return template{}, err
		}
		sep, err := tupleID(file, "post_processor.sep", pp.Sep)
		if err != nil {
			return template{}, err
		}
		if pp.Type == "BertProcessing" {
			return wrapTemplate([]int{cls}, []int{sep}, false), nil
		}
		// RoBERTa: <s> A </s> and <s> A </s></s> B </s>, all type 0.
		return template{
			single: []templateItem{special(0, cls), sequence(0, 0), special(0, sep)},
			pair:   []templateItem{special(0, cls), sequence(0, 0), special(0, sep, sep), sequence(1, 0), special(0, sep)},
		}, nil
	case "Sequence":
		for _, p := range pp.Processors {
			t, err := p.template(file)
			if err != nil || len(t.single) > 0 {
				return t, err
			}
		}
	}
	return template{}, nil // ByteLevel and others add no tokens
}

func (pp *postProcessorJSON) items(file, field string, in []templateItemJSON) ([]templateItem, error) {
	var out []templateItem
	for i, it := range in {
		switch {
		case it.SpecialToken != nil:
			st, ok := pp.SpecialTokens[it.SpecialToken.ID]
			if !ok {
				return nil, fmt.Errorf("%s: post_processor.%s[%d]: special token %q missing from post_processor.special_tokens", file, field, i, it.SpecialToken.ID)
			}
			out = append(out, special(it.SpecialToken.TypeID, st.IDs...))
		case it.Sequence != nil:
			seq := 0
			if it.Sequence.ID == "B" {
				seq = 1
			}
			out = append(out, sequence(seq, it.Sequence.TypeID))
		}
	}
	return out, nil
}

// tupleID reads the id of a ["token", id] pair.
func tupleID(file, field string, raw []json.RawMessage) (int, error) {
	var id int
	if len(raw) != 2 || json.Unmarshal(raw[1], &id) != nil {
		return 0, fmt.Errorf("%s: field %s: want [\"token\", id]", file, field)
	}
	return id, nil
}

// hfModel runs a tokenizer.json through go-huggingface's hftokenizer: what
// this package has no implementation of its own for — WordPiece other
// than BERT's pipeline, and BPE files with a normalizer, pre-tokenizer or
// decoder the pipeline does not implement (see newPipeline's errors).
// These are NOT verified against Hugging Face and may differ from it: for
// example go-huggingface has no byte fallback, ignores Prepend, and splits
// ByteLevel text only before spaces. Unigram files never come here
// (go-huggingface's Unigram is a greedy longest match, not Viterbi).
type hfModel struct {
	vocabulary // model vocab and added tokens
	tok        *hftokenizer.Tokenizer
	tj         *tokenizerJSON
}

// The normalizer and pre-tokenizer types go-huggingface v0.4.12 implements.
var (
	goHFNormalizers   = []string{"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "Prepend", "Replace", "Sequence", "Strip", "StripAccents"}
	goHFPreTokenizers = []string{"BertPreTokenizer", "ByteLevel", "Metaspace", "Punctuation", "Sequence", "Split", "Whitespace", "WhitespaceSplit"}
)

// knownComponents returns an error naming the first component at field
// (and inside its Sequences, listed under list) whose type is not in known,
// or whose regex pattern Go cannot run.
func knownComponents(file, field string, raw json.RawMessage, list string, known []string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: field %s: %w", file, field, err)
	}
	if !slices.Contains(known, c.Type) {
		return fmt.Errorf("%s: field %s.type: %q is not supported (supported: %s)", file, field, c.Type, strings.Join(known, ", "))
	}
	if c.Pattern != nil && c.Pattern.Regex != nil {
		// go-huggingface compiles the pattern as written, and passes over
		// one Go's regexp cannot compile (look-around, as in GPT-2's).
		if _, err := regexp.Compile(*c.Pattern.Regex); err != nil {
			return refused(file, field+".pattern.Regex", fmt.Sprintf("%q: go-huggingface, which runs this file, cannot compile it: %v", *c.Pattern.Regex, err))
		}
	}
	items := c.Normalizers
	if list == "pretokenizers" {
		items = c.PreTokenizers
	}
	for i, item := range items {
		if err := knownComponents(file, fmt.Sprintf("%s.%s[%d]", field, list, i), item, list, known); err != nil {
			return err
		}
	}
	return nil
}

// newHFModel builds go-huggingface's tokenizer from content, after
// checking that it implements every normalizer and pre-tokenizer named:
// it passes over a normalizer it does not know and splits on whitespace for
// a pre-tokenizer it does not know, which gives silently wrong ids (BERT's
// "Hello" became [UNK]).
func newHFModel(file string, content []byte, tj *tokenizerJSON) (*hfModel, error) {
	if err := knownComponents(file, "normalizer", tj.components.Normalizer, "normalizers", goHFNormalizers); err != nil {
		return nil, err
	}
	if err := knownComponents(file, "pre_tokenizer", tj.components.PreTokenizer, "pretokenizers", goHFPreTokenizers); err != nil {
		return nil, err
	}
	if n := tj.extra.Model.MaxInputCharsPerWord; n != nil && *n == 0 {
		return nil, refused(file, "model.max_input_chars_per_word", "0 (every word unknown) is read as 100 by go-huggingface, which runs this file")
	}
	if tj.inferredType {
		// go-huggingface needs model.type spelled out.
		var doc map[string]json.RawMessage
		var model map[string]json.RawMessage
		if err := json.Unmarshal(content, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if err := json.Unmarshal(doc["model"], &model); err != nil {
			return nil, fmt.Errorf("%s: model: %w", file, err)
		}
		model["type"], _ = json.Marshal(tj.Model.Type)
		doc["model"], _ = json.Marshal(model)
		content, _ = json.Marshal(doc)
	}
	tok, err := hftokenizer.NewFromContent(nil, content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := tok.With(api.EncodeOptions{AddSpecialTokens: false}); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	m := &hfModel{vocabulary: vocabulary{vocab: tok.GetVocab(), tokens: map[int]string{}}, tok: tok, tj: tj}
	for s, id := range m.vocab {
		if id < 0 || id > maxID {
			return nil, fmt.Errorf("%s: field model.vocab: token %q has id %d, not a token id (0 to %d)", file, s, id, maxID)
		}
		m.tokens[id] = s
	}
	// go-huggingface can panic on configurations it half supports (a
	// Replace decoder without a pattern …): try it once here so that Load
	// reports it, and guard every later call.
	var failure any
	func() {
		defer func() { failure = recover() }()
		ids := m.tok.Encode("Hello, world! 123 héllo 你好")
		m.tok.Decode(ids)
	}()
	if failure != nil {
		return nil, fmt.Errorf("%s: go-huggingface's tokenizer.json implementation fails on this file: %v", file, failure)
	}
	return m, nil
}

// encode and decode return nothing rather than let a panic inside
// go-huggingface cross the API.
func (m *hfModel) encode(text string) (ids []int) {
	defer func() {
		if recover() != nil {
			ids = nil
		}
	}()
	return m.tok.Encode(text)
}

func (m *hfModel) decode(ids []int) (text []byte) {
	defer func() {
		if recover() != nil {
			text = nil
		}
	}()
	return []byte(m.tok.Decode(ids))
}

// tokenBytes: WordPiece and Unigram tokens have no context-free bytes.
func (m *hfModel) tokenBytes(id int) ([]byte, bool) {
	if m.tj.Model.Type == "WordPiece" {
		return nil, false
	}
	s, ok := m.tokens[id]
	if !ok {
		return nil, false
	}
	return m.decode([]int{id}), s != ""
}

// wellKnownSpecial maps the contents of special added tokens to the special
// token they are, for tokenizer.json files (whose tokenizer_config.json may
// be absent).
var wellKnownSpecial = map[string][]func(*SpecialTokens) *int32{
	"[UNK]":             {unkField},
	"<unk>":             {unkField},
	"[PAD]":             {padField},
	"<pad>":             {padField},
	"[CLS]":             {clsField},
	"[SEP]":             {sepField},
	"[MASK]":            {maskField},
	"<mask>":            {maskField},
	"<s>":               {bosField},
	"</s>":              {eosField},
	"<bos>":             {bosField},
	"<eos>":             {eosField},
	"<|endoftext|>":     {bosField, eosField},
	"<|begin_of_text|>": {bosField},
	"<|end_of_text|>":   {eosField},
	"<|startoftext|>":   {bosField},
}

func unkField(s *SpecialTokens) *int32  { return &s.UNK }
func padField(s *SpecialTokens) *int32  { return &s.PAD }
func clsField(s *SpecialTokens) *int32  { return &s.CLS }
func sepField(s *SpecialTokens) *int32  { return &s.SEP }
func maskField(s *SpecialTokens) *int32 { return &s.MASK }
func bosField(s *SpecialTokens) *int32  { return &s.BOS }
func eosField(s *SpecialTokens) *int32  { return &s.EOS }

// specialTokens returns the special tokens that tokenizer.json declares:
// model.unk_token (or a Unigram's model.unk_id), the well-known special
// added tokens, and the post-processor's CLS/SEP.
func (tj *tokenizerJSON) specialTokens(m model) SpecialTokens {
	s := noSpecialTokens
	for _, a := range tj.AddedTokens {
		if !a.Special {
			continue
		}
		for _, field := range wellKnownSpecial[a.Content] {
			if p := field(&s); *p < 0 {
				*p = int32(a.ID)
			}
		}
	}
	if id, ok := m.tokenToID(tj.Model.UnkToken); ok && tj.Model.UnkToken != "" {
		s.UNK = int32(id)
	}
	if id := tj.extra.Model.UnkID; tj.Model.Type == "Unigram" && id != nil {
		s.UNK = int32(*id)
	}
	if pp := tj.extra.PostProcessor; pp != nil && (pp.Type == "BertProcessing" || pp.Type == "RobertaProcessing") {
		if id, err := tupleID("", "", pp.Cls); err == nil {
			s.CLS = int32(id)
		}
		if id, err := tupleID("", "", pp.Sep); err == nil {
			s.SEP = int32(id)
		}
	}
	return s
}

// specialIDsOf returns the ids of the special added tokens in list.
func specialIDsOf(list []addedToken) map[int]bool {
	ids := map[int]bool{}
	for _, a := range list {
		if a.special {
			ids[a.id] = true
		}
	}
	return ids
}

// bertTokenizerJSON returns the tokenizer.json equivalent of a BERT
// vocab.txt (one token per line, the line number its id), as Hugging Face's
// BertTokenizerFast builds it: BertNormalizer (lower-casing and accent
// stripping when lowerCase), BertPreTokenizer, WordPiece with "##" and
// [UNK], [CLS] A [SEP] (B [SEP]) and the WordPiece decoder.
func bertTokenizerJSON(vocabTxt string, lowerCase bool) ([]byte, error) {
	lines := strings.Split(strings.TrimSuffix(vocabTxt, "\n"), "\n")
	vocab := make(map[string]int, len(lines))
	for i, tok := range lines {
		vocab[strings.TrimSuffix(tok, "\r")] = i
	}
	idOf := func(tok string) (int, bool) { id, ok := vocab[tok]; return id, ok }
	var added []map[string]any
	for _, tok := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		if id, ok := idOf(tok); ok {
			added = append(added, map[string]any{"id": id, "content": tok, "special": true})
		}
	}
	slices.SortFunc(added, func(a, b map[string]any) int { return a["id"].(int) - b["id"].(int) })
	doc := map[string]any{
		"version":      "1.0",
		"added_tokens": added,
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": lowerCase},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"decoder":       map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab},
	}
	cls, okC := idOf("[CLS]")
	sep, okS := idOf("[SEP]")
	if okC && okS {
		doc["post_processor"] = map[string]any{"type": "BertProcessing", "cls": []any{"[CLS]", cls}, "sep": []any{"[SEP]", sep}}
	}
	return json.Marshal(doc)
}
