package tokenizer

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustformers/trustformers-go/models/weights"
)

// A GGUF file whose tokenizer.ggml.model is "llama" holds a SentencePiece
// BPE vocabulary: its pieces, their scores and types, and no merges.
// transformers converts it (integrations/gguf/gguf_tokenizer_mapping.py)
// into a Hugging Face BPE with byte fallback whose merges it derives from
// the vocabulary (generate_merges): every split of a piece into two pieces
// of the vocabulary is a merge, ranked by the piece's score. The shape
// around that BPE depends on general.architecture:
//
//   - gemma, gemma2, gemma3 (GemmaTokenizer): spaces become "▁" in a
//     normalizer, no prefix space; the pieces made only of whitespace,
//     which the file spells with real spaces, are respelled with "▁", and
//     the merges are ranked by the pieces' order in the file, which Gemma's
//     scores do not follow;
//   - phi3: the normalizer prepends "▁" and replaces spaces by "▁";
//   - every other architecture (LlamaTokenizer: LLaMA 1 and 2, Mistral,
//     ...): the Metaspace pre-tokenizer, "▁" prepended to the first word
//     only, and the decoder strips that space.
//
// We build the same tokenizer.json document, so that this package's BPE
// runs it exactly as transformers' does. Like transformers, the file's
// tokenizer.ggml.add_space_prefix is not consulted: the architecture
// decides.

// ggufGemmaArchitectures are the architectures transformers tokenizes
// with GemmaTokenizer.
var ggufGemmaArchitectures = map[string]bool{"gemma": true, "gemma2": true, "gemma3": true}

// ggufSentencePiece returns, as a tokenizer.json document, the SentencePiece
// BPE a GGUF file's metadata holds (tokens are tokenizer.ggml.tokens).
func ggufSentencePiece(info *weights.GGUFInfo, tokens []string) ([]byte, error) {
	path := info.Path
	arch, err := info.MetaString("general.architecture")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	types, err := ggufTokenTypes(info, len(tokens))
	if err != nil {
		return nil, err
	}
	vocabTokens := tokens
	var scores []float64
	if ggufGemmaArchitectures[arch] {
		vocabTokens = make([]string, len(tokens))
		scores = make([]float64, len(tokens))
		for i, tok := range tokens {
			vocabTokens[i], scores[i] = gemmaRespell(tok), -float64(i)
		}
	}
	vocab := make(map[string]int, len(tokens))
	for id, tok := range vocabTokens {
		vocab[tok] = id // a repeated token keeps its last id, as a Python dict does
	}
	merges, err := ggufSentencePieceMerges(info, vocabTokens, vocab, scores)
	if err != nil {
		return nil, err
	}
	added := ggufSentencePieceAdded(info, tokens, types, vocab, ggufGemmaArchitectures[arch])
	model := map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "fuse_unk": true,
		"byte_fallback": true, "ignore_merges": false, "dropout": nil}
	doc := map[string]any{"version": "1.0", "added_tokens": added, "post_processor": nil, "model": model}
	replace := func(from, to string) map[string]any {
		return map[string]any{"type": "Replace", "pattern": map[string]any{"String": from}, "content": to}
	}
	decoders := []any{replace(spSpace, " "), map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"}}
	stripFirst := map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}
	switch {
	case ggufGemmaArchitectures[arch]:
		if id, ok := ggufSpecialID(info, "unknown_token_id", len(tokens)); ok {
			model["unk_token"] = tokens[id]
		}
		doc["normalizer"] = replace(" ", spSpace)
		doc["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"String": " "},
			"behavior": "MergedWithPrevious", "invert": false}
		doc["decoder"] = map[string]any{"type": "Sequence", "decoders": decoders}
	case arch == "phi3":
		doc["normalizer"] = map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": spSpace}, replace(" ", spSpace)}}
		doc["pre_tokenizer"] = nil
		doc["decoder"] = map[string]any{"type": "Sequence", "decoders": append(decoders, stripFirst)}
	default:
		doc["normalizer"] = nil
		doc["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": spSpace, "prepend_scheme": "first", "split": false}
		doc["decoder"] = map[string]any{"type": "Sequence", "decoders": append(decoders, stripFirst)}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return out, nil
}

// gemmaRespell spells a piece made only of whitespace, with at least one
// space, as that many "▁": Gemma's GGUF files store such pieces with real
// spaces, where GemmaTokenizer's normalizer has turned every space into "▁".
// Whitespace is Python's str.isspace, as transformers tests it.
func gemmaRespell(tok string) string {
	if !strings.Contains(tok, " ") || strings.IndexFunc(tok, func(r rune) bool { return !pythonSpace(r) }) >= 0 {
		return tok
	}
	return strings.Repeat(spSpace, utf8.RuneCountInString(tok))
}

// pythonSpace is Python's str.isspace for one character: Go's
// unicode.IsSpace and the separators U+001C to U+001F.
func pythonSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// ggufSentencePieceMerges returns the file's tokenizer.ggml.merges when it
// has them, else the merges the vocabulary implies, ranked by scores (nil:
// the file's tokenizer.ggml.scores).
func ggufSentencePieceMerges(info *weights.GGUFInfo, tokens []string, vocab map[string]int, scores []float64) ([][2]string, error) {
	if _, ok := info.Meta("tokenizer.ggml.merges"); ok {
		lines, err := info.MetaStrings("tokenizer.ggml.merges")
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		return splitMergeLines(info.Path+": metadata key \"tokenizer.ggml.merges\"", lines)
	}
	if scores == nil {
		v, ok := info.Meta("tokenizer.ggml.scores")
		fs, isFloats := v.([]float32)
		if !ok || !isFloats || len(fs) != len(tokens) {
			return nil, fmt.Errorf("tokenizer: %s: metadata key \"tokenizer.ggml.scores\" is not %d float32 values (a SentencePiece vocabulary without merges needs its scores)", info.Path, len(tokens))
		}
		scores = make([]float64, len(fs))
		for i, s := range fs {
			scores[i] = float64(s)
		}
	}
	work := 0
	for i, tok := range tokens {
		if work += len(tok) * len(tok); work > ggufMergeWork {
			return nil, fmt.Errorf("tokenizer: %s: metadata key \"tokenizer.ggml.tokens\": token %d is %d bytes, and the tokens up to it too long to derive merges from (the sum of their squared lengths passes %d)",
				info.Path, i, len(tok), ggufMergeWork)
		}
	}
	return generateMerges(tokens, vocab, scores), nil
}

// ggufMergeWork bounds the sum of the squared byte lengths of the tokens
// whose merges generateMerges derives: looking up both halves of every
// split of a token of n bytes hashes about n² bytes. Gemma 3's 262,144
// pieces (48 bytes at most) sum to about 2.6e7; the bound takes a few
// seconds, where a hostile file's megabyte-long pieces would take hours.
const ggufMergeWork = 1 << 32

// generateMerges is transformers' generate_merges with scores: every split
// of a token into two tokens of vocab, each token's splits ordered by the
// ids of their halves, then all of them sorted by the token's score, then
// the lengths (in characters) of the halves, highest first, ties kept in
// that order. A token that appears twice counts once, at its first place,
// with its last score, as the Python dict transformers builds has it.
func generateMerges(tokens []string, vocab map[string]int, scores []float64) [][2]string {
	type candidate struct {
		left, right  string
		score        float64
		nLeft, nRite int
	}
	last := make(map[string]int, len(tokens))
	for i, tok := range tokens {
		last[tok] = i
	}
	var all []candidate
	seen := make(map[string]bool, len(tokens))
	for _, tok := range tokens {
		if seen[tok] {
			continue
		}
		seen[tok] = true
		start := len(all)
		for i := range tok {
			if i == 0 {
				continue
			}
			l, r := tok[:i], tok[i:]
			if _, ok := vocab[l]; !ok {
				continue
			}
			if _, ok := vocab[r]; ok {
				all = append(all, candidate{l, r, scores[last[tok]], utf8.RuneCountInString(l), utf8.RuneCountInString(r)})
			}
		}
		slices.SortStableFunc(all[start:], func(a, b candidate) int {
			return cmp.Or(cmp.Compare(vocab[a.left], vocab[b.left]), cmp.Compare(vocab[a.right], vocab[b.right]))
		})
	}
	slices.SortStableFunc(all, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(b.nLeft, a.nLeft), cmp.Compare(b.nRite, a.nRite))
	})
	merges := make([][2]string, len(all))
	for i, c := range all {
		merges[i] = [2]string{c.left, c.right}
	}
	return merges
}

// ggufAddedToken is one of tokenizer.json's added_tokens.
type ggufAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// ggufSentencePieceAdded returns the added tokens transformers gives a
// SentencePiece vocabulary from a GGUF file, matched whole in the text
// before it is normalized: the control tokens, special; the user-defined
// ones that are in the vocabulary as the file spells them, not special
// (Gemma's runs of spaces, respelled, are not); and the BOS, EOS, unknown
// and padding tokens, and Gemma's "<mask>", special. A control token
// missing from the vocabulary (a respelled one) is left out, where
// transformers would give it a new id past the model's vocabulary.
func ggufSentencePieceAdded(info *weights.GGUFInfo, tokens []string, types []int32, vocab map[string]int, gemma bool) []ggufAddedToken {
	var added []ggufAddedToken
	index := map[string]int{}
	add := func(content string, special bool) {
		id, ok := vocab[content]
		if !ok {
			return
		}
		if i, dup := index[content]; dup {
			added[i].Special = added[i].Special || special
			return
		}
		index[content] = len(added)
		added = append(added, ggufAddedToken{ID: id, Content: content, Special: special})
	}
	for id, tok := range tokens {
		if types != nil && types[id] == ggufControl {
			add(tok, true)
		}
	}
	for id, tok := range tokens {
		if types != nil && types[id] == ggufUserDefined {
			add(tok, false)
		}
	}
	for _, key := range []string{"bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id"} {
		if id, ok := ggufSpecialID(info, key, len(tokens)); ok {
			add(tokens[id], true)
		}
	}
	if gemma {
		add("<mask>", true)
	}
	slices.SortStableFunc(added, func(a, b ggufAddedToken) int { return cmp.Compare(a.ID, b.ID) })
	return added
}

// ggufSpecialID returns the id tokenizer.ggml.<key> names, when the file
// has the key and it is a token id (ggufTokenizerConfig reports one that
// is not).
func ggufSpecialID(info *weights.GGUFInfo, key string, nTokens int) (int, bool) {
	if _, ok := info.Meta("tokenizer.ggml." + key); !ok {
		return 0, false
	}
	id, err := info.MetaInt("tokenizer.ggml." + key)
	return id, err == nil && id >= 0 && id < nTokens
}

// ggufTokenTypes returns tokenizer.ggml.token_type (nil when the file has
// none), which must hold one int32 per token.
func ggufTokenTypes(info *weights.GGUFInfo, nTokens int) ([]int32, error) {
	v, ok := info.Meta("tokenizer.ggml.token_type")
	if !ok {
		return nil, nil
	}
	types, ok := v.([]int32)
	if !ok || len(types) != nTokens {
		return nil, fmt.Errorf("tokenizer: %s: metadata key \"tokenizer.ggml.token_type\" is not %d int32 values", info.Path, nTokens)
	}
	return types, nil
}
