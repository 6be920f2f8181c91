// Package tokenizer turns text into token ids and back for every tokenizer
// format the model families use, behind one Tokenizer type:
//
//   - tokenizer.json (Hugging Face tokenizers: BPE, WordPiece, Unigram),
//   - GPT-2's vocab.json + merges.txt, or the original encoder.json + vocab.bpe
//     (byte-level BPE),
//   - BERT's vocab.txt (WordPiece),
//   - SentencePiece's tokenizer.model (LLaMA, Mistral, T5 …),
//
// with tokenizer_config.json and special_tokens_map.json read when present.
// Load picks the format from the files in a folder.
//
// Encode follows Hugging Face's defaults: BERT gets [CLS] … [SEP], LLaMA and
// other SentencePiece models get BOS (like LlamaTokenizer), GPT-2 gets
// nothing. Added and special tokens written in the text ("<|endoftext|>",
// "[MASK]") are recognized as Hugging Face does, except in SentencePiece
// models, which, like sentencepiece itself, read "<s>" as plain text.
//
// BPE and Unigram tokenizer.json files run through this package's own
// implementation of Hugging Face's pipeline (normalizers, pre-tokenizers,
// models, decoders); GPT-2's vocabulary files run as the tokenizer.json
// Hugging Face would build from them.
//
// Verified id for id against independent implementations on the goldens in
// testdata/ (see scripts/reference/README.md):
//
//   - against tiktoken: GPT-2 byte-level BPE in all three spellings;
//   - against Hugging Face's Rust tokenizers: BERT WordPiece from
//     tokenizer.json and vocab.txt, and tokenizer.json pipelines of three
//     kinds: Unigram as converted from SentencePiece (T5, ALBERT:
//     Precompiled, Metaspace …), SentencePiece-style BPE with byte fallback
//     (LLaMA 2, Mistral), and byte-level BPE with other split patterns
//     (Llama 3, GPT-4o);
//   - against Google's sentencepiece: SentencePiece BPE and Unigram models
//     with identity and nmt_nfkc normalization.
//
// Not verified: a tokenizer.json whose model is WordPiece without BERT's
// normalizer and pre-tokenizer, or BPE with a normalizer, pre-tokenizer or
// decoder the pipeline does not implement (Whitespace, Digits, BPEDecoder,
// look-around in Split patterns other than "\s+(?!\S)" …), runs through
// go-huggingface's hftokenizer, which may differ from Hugging Face; such a
// file yields to a tokenizer.model beside it when there is one. A Unigram
// tokenizer.json with such parts fails to load instead (go-huggingface's
// Unigram is a greedy longest match). Added tokens' lstrip, rstrip and
// single_word are not applied.
//
// A Tokenizer is safe for concurrent use once loaded; the Special field is
// the one thing meant to be changed, before use (for example setting PAD to
// EOS for GPT-2 batches).
package tokenizer

import (
	"unicode/utf8"
)

// Format names the file format a Tokenizer was loaded from.
type Format string

// Formats Load recognizes.
const (
	FormatTokenizerJSON Format = "tokenizer.json"
	FormatGPT2          Format = "gpt2-bpe"  // vocab.json+merges.txt or encoder.json+vocab.bpe
	FormatVocabTxt      Format = "vocab.txt" // BERT WordPiece
	FormatSentencePiece Format = "sentencepiece"
	FormatGGUF          Format = "gguf" // a llama.cpp file's tokenizer.ggml.* metadata
)

// SpecialTokens holds the ids of the special tokens a tokenizer knows, -1 for
// those it lacks. Use Has to test one.
type SpecialTokens struct {
	BOS, EOS, PAD, UNK, CLS, SEP, MASK int32
}

// Has reports whether id is a real token id (not -1).
func (SpecialTokens) Has(id int32) bool { return id >= 0 }

// noSpecialTokens is SpecialTokens with every id absent.
var noSpecialTokens = SpecialTokens{-1, -1, -1, -1, -1, -1, -1}

// Tokenizer converts text to token ids and back. Create one with Load.
type Tokenizer struct {
	// Special holds the special token ids. It may be changed before the
	// tokenizer is shared; for example GPT-2 has no PAD, and batches padded
	// for generation commonly use EOS: tok.Special.PAD = tok.Special.EOS (or,
	// for one call, BatchOptions.PadID). No call changes it.
	Special SpecialTokens

	// ModelMaxLength is tokenizer_config.json's model_max_length, or 0 when
	// unknown (or absurdly large, as Hugging Face writes for "no limit").
	ModelMaxLength int

	format Format
	path   string // the main file it was loaded from
	model  model
	tmpl   template
	// specialIDs are the ids Decode drops when asked to skip special tokens.
	specialIDs map[int]bool
	// chatTemplate is the Jinja chat template and chatFile its file ("":
	// none); specialText maps "bos_token" … to the tokens' text, which
	// templates read.
	chatTemplate, chatFile string
	specialText            map[string]string
	// source is the tokenizer.json document the tokenizer was built from
	// (nil for other formats), which Save writes back.
	source []byte
}

// model is one tokenization algorithm over one vocabulary. Implementations
// never panic on bad ids: unknown ids are skipped.
type model interface {
	// encode turns text into ids, without the special tokens a template adds.
	encode(text string) []int
	// decode returns the bytes ids stand for; they may end inside a UTF-8
	// character when ids were cut mid-character.
	decode(ids []int) []byte
	vocabSize() int
	idToToken(id int) (string, bool)
	tokenToID(token string) (int, bool)
	// tokenBytes returns the raw bytes token id stands for on its own, or
	// false where the format has no such bytes (WordPiece).
	tokenBytes(id int) ([]byte, bool)
}

// Format returns the format the tokenizer was loaded from.
func (t *Tokenizer) Format() Format { return t.format }

// Path returns the file the tokenizer was loaded from.
func (t *Tokenizer) Path() string { return t.path }

// VocabSize returns the number of token ids, added tokens included.
func (t *Tokenizer) VocabSize() int { return t.model.vocabSize() }

// IDToToken returns the token string of id as the vocabulary spells it (for
// example "Ġworld" in GPT-2, "##ing" in BERT, "▁world" in SentencePiece).
func (t *Tokenizer) IDToToken(id int32) (string, bool) { return t.model.idToToken(int(id)) }

// TokenToID returns the id of a token spelled as in the vocabulary.
func (t *Tokenizer) TokenToID(token string) (int32, bool) {
	id, ok := t.model.tokenToID(token)
	return int32(id), ok
}

// TokenBytes returns the raw bytes token id decodes to on its own, which may
// be part of a UTF-8 character (GPT-2's byte tokens, SentencePiece's <0xNN>
// byte pieces). SentencePiece's "▁" is returned as a space. ok is false for
// unknown ids and for formats whose tokens have no standalone bytes
// (WordPiece, where "##" joins depend on the neighbours). Streaming
// generation should use a StreamDecoder, which handles every format.
func (t *Tokenizer) TokenBytes(id int32) (b []byte, ok bool) { return t.model.tokenBytes(int(id)) }

// IsSpecial reports whether id is a special token (one Decode drops when
// skipping special tokens).
func (t *Tokenizer) IsSpecial(id int32) bool { return t.specialIDs[int(id)] }

// EncodeOptions changes how Encode works. The zero value is Hugging Face's
// default: special tokens added, no truncation.
type EncodeOptions struct {
	// NoSpecialTokens leaves out the special tokens the format adds ([CLS]
	// and [SEP] for BERT, BOS for SentencePiece models).
	NoSpecialTokens bool
	// MaxLength, when positive, truncates the encoding so that it holds at
	// most MaxLength ids, special tokens included (these are kept).
	MaxLength int
	// TruncateLeft drops ids from the start instead of the end.
	TruncateLeft bool
}

// Encode returns the ids of text with the format's default special tokens,
// as Hugging Face's tokenizer(text) does.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.EncodeWith(text, EncodeOptions{})
}

// EncodeWith returns the ids of text encoded with opts.
func (t *Tokenizer) EncodeWith(text string, opts EncodeOptions) []int32 {
	ids, _ := t.encode(text, nil, opts)
	return ids
}

// EncodePair returns the ids and token type ids of a sentence pair, as BERT
// takes them ([CLS] a [SEP] b [SEP], type ids 0 for the first part and 1
// for the second). Truncation to opts.MaxLength removes ids from the longer
// sequence first, as Hugging Face's "longest_first".
func (t *Tokenizer) EncodePair(a, b string, opts EncodeOptions) (ids, typeIDs []int32) {
	return t.encode(a, &b, opts)
}

func (t *Tokenizer) encode(a string, b *string, opts EncodeOptions) (ids, typeIDs []int32) {
	seqs := [][]int{t.model.encode(a)}
	if b != nil {
		seqs = append(seqs, t.model.encode(*b))
	}
	tmpl := t.tmpl
	if opts.NoSpecialTokens {
		tmpl = template{}
	}
	if opts.MaxLength > 0 {
		truncate(seqs, opts.MaxLength-tmpl.numSpecial(len(seqs) == 2), opts.TruncateLeft)
	}
	joined, types := tmpl.apply(seqs)
	return toInt32(joined), toInt32(types)
}

// toInt32 converts the algorithms' ids (int, which they index with) to the
// int32 ids of the public API, which models take.
func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// truncate shortens seqs (one or two sequences) in place so that their
// lengths add up to at most budget, taking from the longer one first.
func truncate(seqs [][]int, budget int, left bool) {
	budget = max(budget, 0)
	cut := func(s []int, n int) []int {
		if len(s) <= n {
			return s
		}
		if left {
			return s[len(s)-n:]
		}
		return s[:n]
	}
	if len(seqs) == 1 {
		seqs[0] = cut(seqs[0], budget)
		return
	}
	n1, n2 := len(seqs[0]), len(seqs[1])
	if n1+n2 <= budget {
		return
	}
	half := budget / 2
	switch {
	case n1 <= half:
		n2 = budget - n1
	case n2 <= half:
		n1 = budget - n2
	default:
		n1, n2 = budget-half, half
	}
	seqs[0], seqs[1] = cut(seqs[0], n1), cut(seqs[1], n2)
}

// Decode returns the text of ids. With skipSpecialTokens the special tokens
// (IsSpecial) are left out. Ids outside the vocabulary are skipped, and bytes
// that do not form UTF-8 (ids cut mid-character) become U+FFFD, one per
// byte, as SentencePiece does (Hugging Face's ByteLevel decoder writes one
// per invalid sequence instead, and its ByteFallback decoder one per byte
// of a whole run of byte tokens that is not UTF-8, which Decode follows
// except at the end of ids).
func (t *Tokenizer) Decode(ids []int32, skipSpecialTokens bool) string {
	return validUTF8(t.DecodeBytes(ids, skipSpecialTokens))
}

// DecodeBytes is Decode without the UTF-8 repair: it returns the raw bytes,
// which may end in part of a character when ids stop mid-character.
func (t *Tokenizer) DecodeBytes(ids []int32, skipSpecialTokens bool) []byte {
	kept := make([]int, 0, len(ids))
	for _, id := range ids {
		if !skipSpecialTokens || !t.IsSpecial(id) {
			kept = append(kept, int(id))
		}
	}
	return t.model.decode(kept)
}

// validUTF8 converts b to a string, replacing each byte that is not part of
// a valid UTF-8 sequence with U+FFFD (as SentencePiece does).
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for _, r := range string(b) {
		out = append(out, r) // invalid bytes come out as utf8.RuneError, one each
	}
	return string(out)
}
