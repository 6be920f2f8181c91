package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/trustformers/trustformers-go/files"
)

// Load reads the tokenizer at path: a folder, or one of its files. In a
// folder it uses, in this order, the first of:
//
//   - tokenizer.json (BPE, WordPiece, Unigram),
//   - vocab.json + merges.txt, or encoder.json + vocab.bpe (GPT-2 byte-level BPE),
//   - vocab.txt (BERT WordPiece),
//   - tokenizer.model (SentencePiece),
//
// except that a tokenizer.json that this package would have to hand to
// go-huggingface (see hfModel) yields to a tokenizer.model beside it. tokenizer_config.json and
// special_tokens_map.json in the same folder, when present, set the special
// tokens, add_bos_token / add_eos_token, do_lower_case (vocab.txt) and
// model_max_length.
//
// Errors name the file and, where it is one, the field at fault.
func Load(path string) (*Tokenizer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	dir, file := path, ""
	if !info.IsDir() {
		dir, file = filepath.Dir(path), filepath.Base(path)
	}
	exists := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, name))
		return err == nil && !st.IsDir()
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	pick := file
	switch file {
	case "merges.txt":
		pick = "vocab.json"
	case "vocab.bpe":
		pick = "encoder.json"
	case "":
		for _, c := range []struct{ name, partner string }{
			{"tokenizer.json", ""}, {"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"},
			{"vocab.txt", ""}, {"tokenizer.model", ""},
		} {
			if exists(c.name) && (c.partner == "" || exists(c.partner)) {
				pick = c.name
				break
			}
		}
		if pick == "" {
			return nil, fmt.Errorf("tokenizer: no tokenizer file in %s (looked for tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe, vocab.txt, tokenizer.model)", dir)
		}
	}
	full := filepath.Join(dir, pick)
	var t *Tokenizer
	switch {
	case pick == "vocab.json" || pick == "encoder.json":
		merges := "merges.txt"
		if pick == "encoder.json" {
			merges = "vocab.bpe"
		}
		t, err = loadGPT2(full, filepath.Join(dir, merges), cfg)
	case pick == "vocab.txt":
		t, err = loadVocabTxt(full, cfg)
	case strings.HasSuffix(pick, ".model"):
		t, err = loadSentencePieceFile(full, cfg)
	case strings.HasSuffix(pick, ".json"):
		t, err = loadTokenizerJSON(full, cfg, file == "" && exists("tokenizer.model"))
	case strings.HasSuffix(pick, ".gguf"):
		return LoadGGUF(full)
	default:
		return nil, fmt.Errorf("tokenizer: %s: unknown tokenizer file (want tokenizer.json, vocab.json, merges.txt, encoder.json, vocab.bpe, vocab.txt, a SentencePiece .model or a llama.cpp .gguf)", full)
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

// newTokenizer finishes a Tokenizer: special tokens from the defaults then
// the config, and the ids Decode skips.
func newTokenizer(format Format, path string, m model, tmpl template, special SpecialTokens, specialIDs map[int]bool, cfg *config) (*Tokenizer, error) {
	t := &Tokenizer{Special: special, format: format, path: path, model: m, tmpl: tmpl, specialIDs: specialIDs}
	if t.specialIDs == nil {
		t.specialIDs = map[int]bool{}
	}
	if err := cfg.apply(t); err != nil {
		return nil, err
	}
	return t, nil
}

func loadTokenizerJSON(file string, cfg *config, haveSentencePiece bool) (*Tokenizer, error) {
	content, err := files.ReadFile(file, files.TokenizerLimit)
	if err != nil {
		return nil, err
	}
	return tokenizerFromJSON(file, content, cfg, haveSentencePiece)
}

// tokenizerFromJSON builds the Tokenizer of a tokenizer.json document,
// content; file names it in errors.
func tokenizerFromJSON(file string, content []byte, cfg *config, haveSentencePiece bool) (*Tokenizer, error) {
	tj, err := parseTokenizerJSON(file, content)
	if err != nil {
		return nil, err
	}
	m, err := tj.model(file, content)
	if _, viaGoHF := m.(*hfModel); haveSentencePiece && (viaGoHF || errors.As(err, new(*unsupportedError))) {
		return loadSentencePieceFile(filepath.Join(filepath.Dir(file), "tokenizer.model"), cfg)
	}
	if err != nil {
		return nil, err
	}
	tmpl, err := tj.template(file)
	if err != nil {
		return nil, err
	}
	special := tj.specialTokens(m)
	if tj.extra.PostProcessor == nil {
		// No post-processor: the config's add_bos_token / add_eos_token
		// decide, as Hugging Face's LlamaTokenizerFast does.
		tmpl = cfg.bosEOSTemplate(special, false, false)
	}
	t, err := newTokenizer(FormatTokenizerJSON, file, m, tmpl, special, specialIDsOf(tj.addedTokens()), cfg)
	if err != nil {
		return nil, err
	}
	t.source = content
	return t, nil
}

// model returns the implementation for tj: this package's own BERT
// WordPiece and pipeline (BPE and Unigram), and go-huggingface's for what
// these do not implement (see hfModel), except for Unigram, whose
// go-huggingface implementation is known to be wrong.
func (tj *tokenizerJSON) model(file string, content []byte) (model, error) {
	if tj.bertWordPiece() {
		return newWordPiece(file, tj)
	}
	p, err := newPipeline(file, tj)
	var ue *unsupportedError
	if errors.As(err, &ue) && !ue.final && tj.Model.Type != "Unigram" {
		return newHFModel(file, content, tj)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// loadGPT2 reads GPT-2's vocabulary (vocab.json or encoder.json: token → id)
// and merges (merges.txt or vocab.bpe: a "#version" line, then "a b" per
// line in rank order), and runs them as the tokenizer.json Hugging Face
// would build: ByteLevel pre-tokenizer, BPE, ByteLevel decoder. Like
// Hugging Face's GPT2Tokenizer it adds no special tokens and takes
// <|endoftext|> as BOS, EOS and UNK.
func loadGPT2(vocabFile, mergesFile string, cfg *config) (*Tokenizer, error) {
	data, err := files.ReadFile(vocabFile, files.TokenizerLimit)
	if err != nil {
		return nil, err
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of token ids: %w", vocabFile, err)
	}
	if len(vocab) == 0 {
		return nil, fmt.Errorf("%s: the vocabulary is empty", vocabFile)
	}
	for b, r := range byteToRune {
		if _, ok := vocab[string(r)]; !ok {
			return nil, fmt.Errorf("%s: byte 0x%02X (%q) is missing: not a byte-level BPE vocabulary", vocabFile, b, r)
		}
	}
	data, err = files.ReadFile(mergesFile, files.TokenizerLimit)
	if err != nil {
		return nil, err
	}
	var lines []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || (i == 0 && strings.HasPrefix(line, "#version")) {
			continue
		}
		lines = append(lines, line)
	}
	merges, err := splitMergeLines(mergesFile, lines)
	if err != nil {
		return nil, err
	}
	bpe, err := newBPE(vocab, merges, bpeOptions{vocabFile: vocabFile, mergesFile: mergesFile})
	if err != nil {
		return nil, err
	}
	var added []addedToken
	special := noSpecialTokens
	if id, ok := vocab["<|endoftext|>"]; ok {
		added = append(added, addedToken{id: id, content: "<|endoftext|>", special: true})
		special.BOS, special.EOS, special.UNK = int32(id), int32(id), int32(id)
	}
	added = append(added, cfg.addedTokens...)
	m := &pipeline{added: newAddedTokens(added), preTokenize: byteLevelPreTokenizer(false, true), model: bpe, decoder: byteLevelDecoder}
	return newTokenizer(FormatGPT2, vocabFile, m, cfg.bosEOSTemplate(special, false, false), special, specialIDsOf(added), cfg)
}

// loadVocabTxt reads a BERT vocab.txt, builds the tokenizer.json that
// Hugging Face's BertTokenizerFast would, and runs it like one. It lower-cases
// (and strips accents) unless tokenizer_config.json says do_lower_case false.
func loadVocabTxt(file string, cfg *config) (*Tokenizer, error) {
	data, err := files.ReadFile(file, files.TokenizerLimit)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, fmt.Errorf("%s: the vocabulary is empty", file)
	}
	lower := true
	if cfg.doLowerCase != nil {
		lower = *cfg.doLowerCase
	}
	content, err := bertTokenizerJSON(string(data), lower)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	tj, err := parseTokenizerJSON(file, content)
	if err != nil {
		return nil, err
	}
	m, err := tj.model(file, content)
	if err != nil {
		return nil, err
	}
	tmpl, err := tj.template(file)
	if err != nil {
		return nil, err
	}
	added := tj.addedTokens()
	return newTokenizer(FormatVocabTxt, file, m, tmpl, tj.specialTokens(m), specialIDsOf(added), cfg)
}

// loadSentencePieceFile reads a SentencePiece model. Like Hugging Face's
// LlamaTokenizer it puts BOS before each sequence (add_bos_token, default
// true) and EOS after it when add_eos_token is set. Decode skips control
// pieces (<s>, </s>) when asked to skip special tokens, and shows <unk> as
// SentencePiece does (" ⁇ ").
func loadSentencePieceFile(file string, cfg *config) (*Tokenizer, error) {
	data, err := files.ReadFile(file, files.TokenizerLimit)
	if err != nil {
		return nil, err
	}
	m, special, err := loadSentencePiece(file, data)
	if err != nil {
		return nil, err
	}
	return newTokenizer(FormatSentencePiece, file, m, cfg.bosEOSTemplate(special, true, false), special, m.controlIDs(), cfg)
}

// config is what tokenizer_config.json and special_tokens_map.json say.
type config struct {
	files       []string          // the files read, for error messages
	tokens      map[string]string // "bos_token" … → content
	tokenFile   map[string]string // field → file it came from
	addBOS      *bool
	addEOS      *bool
	doLowerCase *bool
	maxLength   int
	addedTokens []addedToken // tokenizer_config.json's added_tokens_decoder
	// chatTemplate is the Jinja chat template (chat_template.jinja, or
	// tokenizer_config.json's chat_template), and chatFile where it is.
	chatTemplate, chatFile string
}

var specialFields = []struct {
	name  string
	field func(*SpecialTokens) *int32
}{
	{"bos_token", bosField}, {"eos_token", eosField}, {"unk_token", unkField}, {"sep_token", sepField},
	{"pad_token", padField}, {"cls_token", clsField}, {"mask_token", maskField},
}

// readConfig reads tokenizer_config.json then special_tokens_map.json (which
// wins for special tokens) from dir; missing files are fine.
func readConfig(dir string) (*config, error) {
	cfg := &config{tokens: map[string]string{}, tokenFile: map[string]string{}}
	for _, name := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		file := filepath.Join(dir, name)
		data, err := files.ReadFile(file, files.ConfigLimit)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if err := cfg.parse(file, data); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	// Transformers saves the template in a file of its own since 4.43, and
	// prefers it to the config's field.
	file := filepath.Join(dir, "chat_template.jinja")
	if data, err := files.ReadFile(file, files.ConfigLimit); err == nil {
		cfg.chatTemplate, cfg.chatFile = string(data), file
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return cfg, nil
}

func (cfg *config) parse(file string, data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for _, f := range specialFields {
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		content, err := tokenContent(v)
		if err != nil {
			return fmt.Errorf("%s: field %s: %w", file, f.name, err)
		}
		if content != "" {
			cfg.tokens[f.name], cfg.tokenFile[f.name] = content, file
		}
	}
	boolField := func(name string, dst **bool) error {
		if v, ok := raw[name]; ok && string(v) != "null" {
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%s: field %s: want true or false, got %s", file, name, v)
			}
			*dst = &b
		}
		return nil
	}
	for name, dst := range map[string]**bool{"add_bos_token": &cfg.addBOS, "add_eos_token": &cfg.addEOS, "do_lower_case": &cfg.doLowerCase} {
		if err := boolField(name, dst); err != nil {
			return err
		}
	}
	if v, ok := raw["chat_template"]; ok && string(v) != "null" {
		tmpl, err := chatTemplateField(v)
		if err != nil {
			return fmt.Errorf("%s: field chat_template: %w", file, err)
		}
		cfg.chatTemplate, cfg.chatFile = tmpl, file
	}
	if v, ok := raw["model_max_length"]; ok && string(v) != "null" {
		var n float64
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("%s: field model_max_length: want a number, got %s", file, v)
		}
		if n > 0 && n < 1<<31 {
			cfg.maxLength = int(n)
		}
	}
	if v, ok := raw["added_tokens_decoder"]; ok && string(v) != "null" {
		var dec map[string]struct {
			Content string `json:"content"`
			Special bool   `json:"special"`
		}
		if err := json.Unmarshal(v, &dec); err != nil {
			return fmt.Errorf("%s: field added_tokens_decoder: %w", file, err)
		}
		for key, a := range dec {
			var id int
			if _, err := fmt.Sscan(key, &id); err != nil || id < 0 || id > maxID {
				return fmt.Errorf("%s: field added_tokens_decoder: key %q is not a token id", file, key)
			}
			cfg.addedTokens = append(cfg.addedTokens, addedToken{id: id, content: a.Content, special: a.Special})
		}
	}
	return nil
}

// tokenContent reads a special token given as "text", {"content": "text"} or null.
func tokenContent(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var obj *struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(v, &obj); err != nil {
		return "", fmt.Errorf("want a string or an object with content, got %s", v)
	}
	if obj == nil {
		return "", nil
	}
	return obj.Content, nil
}

// bosEOSTemplate returns the template that adds BOS and/or EOS around each
// sequence, from add_bos_token / add_eos_token with the format's defaults.
func (cfg *config) bosEOSTemplate(s SpecialTokens, addBOS, addEOS bool) template {
	if cfg.addBOS != nil {
		addBOS = *cfg.addBOS
	}
	if cfg.addEOS != nil {
		addEOS = *cfg.addEOS
	}
	var prefix, suffix []int
	if addBOS && s.BOS >= 0 {
		prefix = []int{int(s.BOS)}
	}
	if addEOS && s.EOS >= 0 {
		suffix = []int{int(s.EOS)}
	}
	return wrapTemplate(prefix, suffix, true)
}

// apply sets t's special tokens and model_max_length from the config.
func (cfg *config) apply(t *Tokenizer) error {
	for _, f := range specialFields {
		content, ok := cfg.tokens[f.name]
		if !ok {
			continue
		}
		id, ok := t.model.tokenToID(content)
		if !ok {
			return fmt.Errorf("%s: field %s: token %q is not in the vocabulary of %s", cfg.tokenFile[f.name], f.name, content, t.path)
		}
		*f.field(&t.Special) = int32(id)
		if t.format != FormatSentencePiece {
			t.specialIDs[id] = true
		}
	}
	t.ModelMaxLength = cfg.maxLength
	t.chatTemplate, t.chatFile = cfg.chatTemplate, cfg.chatFile
	t.specialText = map[string]string{}
	for _, f := range specialFields {
		if id := *f.field(&t.Special); id >= 0 {
			if text, ok := t.model.idToToken(int(id)); ok {
				t.specialText[f.name] = text
			}
		}
	}
	return nil
}

// chatTemplateField reads chat_template: a template, or a list of named
// ones (of which Hugging Face applies "default").
func chatTemplateField(v json.RawMessage) (string, error) {
	var one string
	if err := json.Unmarshal(v, &one); err == nil {
		return one, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(v, &named); err != nil {
		return "", fmt.Errorf("want a string or a list of {name, template}")
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", fmt.Errorf("a list of named templates without a \"default\" one")
}
