package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gomlx/go-huggingface/tokenizers/sentencepiece/private/protos"
	"github.com/trustformers/trustformers-go/models/weights"
)

// GGUF token types (llama.cpp's llama_token_type), the numbering
// SentencePiece's piece types also use.
const (
	ggufNormal      int32 = 1
	ggufUnknown     int32 = 2
	ggufControl     int32 = 3
	ggufUserDefined int32 = 4
	ggufUnused      int32 = 5
	ggufByte        int32 = 6
)

// ggufPieceTypes maps SentencePiece piece types to GGUF token types.
var ggufPieceTypes = map[protos.ModelProto_SentencePiece_Type]int32{
	protos.ModelProto_SentencePiece_NORMAL: ggufNormal, protos.ModelProto_SentencePiece_UNKNOWN: ggufUnknown,
	protos.ModelProto_SentencePiece_CONTROL: ggufControl, protos.ModelProto_SentencePiece_USER_DEFINED: ggufUserDefined,
	protos.ModelProto_SentencePiece_UNUSED: ggufUnused, protos.ModelProto_SentencePiece_BYTE: ggufByte,
}

// GGUFMetadata returns the tokenizer.ggml.* entries that let llama.cpp
// tokenize with this vocabulary, for weights.WriteGGUF (the families'
// SaveGGUF take them as extra entries):
//
//   - GPT-2 byte-level BPE (vocab.json + merges.txt, encoder.json +
//     vocab.bpe): model "gpt2", pre-tokenizer "gpt-2", the tokens in
//     byte-level spelling, the merges in rank order;
//   - SentencePiece (tokenizer.model): model "llama", the pieces with their
//     scores and types.
//
// Other formats are an error naming the format: their pre-tokenizers have no
// llama.cpp name this package could vouch for.
func (t *Tokenizer) GGUFMetadata() ([]weights.GGUFKV, error) {
	var meta []weights.GGUFKV
	switch m := t.model.(type) {
	case *sentencePiece:
		if m.unigram {
			return nil, fmt.Errorf("tokenizer %s: a SentencePiece Unigram model has no llama.cpp tokenizer this package writes (llama.cpp's \"llama\" model is BPE)", t.path)
		}
		tokens := make([]string, len(m.pieces))
		scores := make([]float32, len(m.pieces))
		types := make([]int32, len(m.pieces))
		for i, p := range m.pieces {
			tokens[i], scores[i] = p.GetPiece(), p.GetScore()
			types[i] = ggufPieceTypes[p.GetType()]
		}
		meta = append(meta, weights.GGUFKV{Key: "tokenizer.ggml.model", Value: "llama"},
			weights.GGUFKV{Key: "tokenizer.ggml.tokens", Value: tokens},
			weights.GGUFKV{Key: "tokenizer.ggml.scores", Value: scores},
			weights.GGUFKV{Key: "tokenizer.ggml.token_type", Value: types})
	case *pipeline:
		b, ok := m.model.(*bpe)
		if !ok || t.format != FormatGPT2 {
			return nil, fmt.Errorf("tokenizer %s (%s): GGUF tokenizer metadata is written for GPT-2 byte-level BPE and SentencePiece BPE only", t.path, t.format)
		}
		tokens := make([]string, b.vocabSize())
		types := make([]int32, len(tokens))
		for id := range tokens {
			tok, ok := b.idToToken(id)
			if !ok {
				return nil, fmt.Errorf("tokenizer %s: ids are not contiguous: no token has id %d", t.path, id)
			}
			tokens[id], types[id] = tok, ggufNormal
			if t.specialIDs[id] {
				types[id] = ggufControl
			}
		}
		type ranked struct {
			rank int
			text string
		}
		var merges []ranked
		for pair, mg := range b.merges {
			merges = append(merges, ranked{mg.rank, tokens[pair[0]] + " " + tokens[pair[1]]})
		}
		slices.SortFunc(merges, func(a, b ranked) int { return a.rank - b.rank })
		texts := make([]string, len(merges))
		for i, mg := range merges {
			texts[i] = mg.text
		}
		meta = append(meta, weights.GGUFKV{Key: "tokenizer.ggml.model", Value: "gpt2"},
			weights.GGUFKV{Key: "tokenizer.ggml.pre", Value: "gpt-2"},
			weights.GGUFKV{Key: "tokenizer.ggml.tokens", Value: tokens},
			weights.GGUFKV{Key: "tokenizer.ggml.token_type", Value: types},
			weights.GGUFKV{Key: "tokenizer.ggml.merges", Value: texts})
	default:
		return nil, fmt.Errorf("tokenizer %s (%s): GGUF tokenizer metadata is written for GPT-2 byte-level BPE and SentencePiece BPE only", t.path, t.format)
	}
	ids := []struct {
		key string
		id  int32
	}{{"bos_token_id", t.Special.BOS}, {"eos_token_id", t.Special.EOS}, {"unknown_token_id", t.Special.UNK}, {"padding_token_id", t.Special.PAD}}
	for _, s := range ids {
		if t.Special.Has(s.id) {
			meta = append(meta, weights.GGUFKV{Key: "tokenizer.ggml." + s.key, Value: uint32(s.id)})
		}
	}
	addsBOS := len(t.tmpl.single) > 0 && t.tmpl.single[0].seq < 0 && slices.Contains(t.tmpl.single[0].ids, int(t.Special.BOS))
	meta = append(meta, weights.GGUFKV{Key: "tokenizer.ggml.add_bos_token", Value: addsBOS})
	return meta, nil
}

// LoadGGUF builds the tokenizer that the llama.cpp GGUF file path carries
// in its tokenizer.ggml.* metadata, as transformers' GGUF converter does:
//
//   - a byte-level BPE (tokenizer.ggml.model "gpt2": GPT-2, Llama 3,
//     SmolLM2, Qwen …): the tokens and merges as a BPE model with the
//     ByteLevel pre-tokenizer and decoder;
//   - a SentencePiece BPE (tokenizer.ggml.model "llama": LLaMA 1 and 2,
//     Mistral, Gemma, Phi-3 …): the pieces as a BPE with byte fallback
//     whose merges come from the pieces' scores (see ggufSentencePiece),
//     shaped as transformers shapes the file's architecture.
//
// Control tokens become special added tokens, user-defined ones plain added
// tokens; the BOS, EOS, unknown and padding ids, add_bos_token (for
// SentencePiece true when the file does not say) and add_eos_token, and
// the chat template are read. Only the metadata is read. Other tokenizer
// models ("bert", "t5", …) are an error naming the model; so is a file
// without a tokenizer.
func LoadGGUF(path string) (*Tokenizer, error) {
	info, err := weights.ReadGGUFInfo(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	kind, err := info.MetaString("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s has no tokenizer: %w", path, err)
	}
	tokens, err := info.MetaStrings("tokenizer.ggml.tokens")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var doc []byte
	switch kind {
	case "gpt2":
		doc, err = ggufByteLevelBPE(info, tokens)
	case "llama":
		doc, err = ggufSentencePiece(info, tokens)
	default:
		return nil, fmt.Errorf("tokenizer: %s: tokenizer.ggml.model %q: only \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece BPE) are read from GGUF files", path, kind)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := ggufTokenizerConfig(info, tokens, kind == "llama")
	if err != nil {
		return nil, err
	}
	t, err := tokenizerFromJSON(path, doc, cfg, false)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t.format = FormatGGUF
	return t, nil
}

// ggufByteLevelBPE returns, as a tokenizer.json document, the byte-level
// BPE a GGUF file's metadata holds: its tokens, merges, and the control and
// user-defined tokens (tokenizer.ggml.token_type) as added tokens.
func ggufByteLevelBPE(info *weights.GGUFInfo, tokens []string) ([]byte, error) {
	path := info.Path
	merges, err := info.MetaStrings("tokenizer.ggml.merges")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	types, err := ggufTokenTypes(info, len(tokens))
	if err != nil {
		return nil, err
	}
	vocab := make(map[string]int, len(tokens))
	var addedTokens []ggufAddedToken
	for id, tok := range tokens {
		vocab[tok] = id
		if types != nil && (types[id] == ggufControl || types[id] == ggufUserDefined) {
			addedTokens = append(addedTokens, ggufAddedToken{ID: id, Content: tok, Special: types[id] == ggufControl})
		}
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	doc, err := json.Marshal(map[string]any{
		"version":        "1.0",
		"added_tokens":   addedTokens,
		"normalizer":     nil,
		"pre_tokenizer":  byteLevel,
		"post_processor": nil,
		"decoder":        byteLevel,
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "fuse_unk": false,
			"byte_fallback": false, "ignore_merges": false},
	})
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return doc, nil
}

// ggufTokenizerConfig returns what tokenizer_config.json would say of a GGUF
// file's tokenizer: whether to add BOS (when the file does not say: as
// llama.cpp does, yes for a SentencePiece vocabulary, no otherwise) and EOS,
// the special tokens by their ids (tokenizer.ggml.bos_token_id, ...), and
// the chat template.
func ggufTokenizerConfig(info *weights.GGUFInfo, tokens []string, sentencePiece bool) (*config, error) {
	path := info.Path
	cfg := &config{tokens: map[string]string{}, tokenFile: map[string]string{}}
	addBOS, addEOS := sentencePiece, false
	for _, flag := range []struct {
		key   string
		value *bool
	}{{"add_bos_token", &addBOS}, {"add_eos_token", &addEOS}} {
		if v, ok := info.Meta("tokenizer.ggml." + flag.key); ok {
			b, isBool := v.(bool)
			if !isBool {
				return nil, fmt.Errorf("tokenizer: %s: metadata key \"tokenizer.ggml.%s\" is not a bool", path, flag.key)
			}
			*flag.value = b
		}
	}
	cfg.addBOS, cfg.addEOS = &addBOS, &addEOS
	for _, s := range []struct {
		key  string
		name string
	}{{"bos_token_id", "bos_token"}, {"eos_token_id", "eos_token"}, {"unknown_token_id", "unk_token"}, {"padding_token_id", "pad_token"}} {
		if _, ok := info.Meta("tokenizer.ggml." + s.key); !ok {
			continue
		}
		id, err := info.MetaInt("tokenizer.ggml." + s.key)
		if err != nil || id < 0 || id >= len(tokens) {
			return nil, fmt.Errorf("tokenizer: %s: metadata key \"tokenizer.ggml.%s\" is not a token id (%d tokens): %v", path, s.key, len(tokens), err)
		}
		cfg.tokens[s.name], cfg.tokenFile[s.name] = tokens[id], path
	}
	if v, ok := info.Meta("tokenizer.chat_template"); ok {
		var isString bool
		if cfg.chatTemplate, isString = v.(string); !isString {
			return nil, fmt.Errorf("tokenizer: %s: metadata key \"tokenizer.chat_template\" is not a string", path)
		}
		cfg.chatFile = path
	}
	return cfg, nil
}
