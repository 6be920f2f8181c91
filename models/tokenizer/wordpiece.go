package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// wordPiece is BERT's tokenizer as Hugging Face's tokenizers runs it:
// added tokens first, then BertNormalizer, BertPreTokenizer and the
// WordPiece model, and the WordPiece decoder.
//
// It is our own rather than go-huggingface's hftokenizer, which differed
// from Hugging Face on 4 of the 2,068 golden inputs (v0.4.12): it counts
// max_input_chars_per_word in bytes rather than characters (a 66-letter
// Cyrillic word became [UNK]), keeps the format (Cf) characters clean_text
// removes (zero-width joiners, soft hyphens, BOMs) and the White_Space ones
// it turns into spaces (U+2028 …); it also decodes without the WordPiece
// decoder's cleanup (" ." → ".") and does not infer model.type, which
// bert-base-uncased's tokenizer.json leaves out.
type wordPiece struct {
	vocabulary
	unkID    int
	prefix   string // continuing_subword_prefix, "##"
	maxChars int    // max_input_chars_per_word
	norm     *bertNormalizer
	added    *addedTokens
	decoder  wordPieceDecoder
}

// bertNormalizer is Hugging Face's BertNormalizer.
type bertNormalizer struct {
	cleanText, chineseChars, stripAccents, lowercase bool
}

// newWordPiece builds the model from a parsed tokenizer.json whose
// pre-tokenizer is BertPreTokenizer and normalizer BertNormalizer or none.
func newWordPiece(file string, tj *tokenizerJSON) (*wordPiece, error) {
	m := &wordPiece{
		vocabulary: vocabulary{vocab: map[string]int{}, tokens: map[int]string{}},
		unkID:      -1,
		prefix:     tj.Model.ContinuingSubwordPrefix,
		added:      newAddedTokens(tj.addedTokens()),
		decoder:    wordPieceDecoder{prefix: "##", cleanup: true},
	}
	for tok, id := range tj.Model.Vocab {
		if id < 0 || id > maxID {
			return nil, fmt.Errorf("%s: field model.vocab: token %q has id %d, not a token id (0 to %d)", file, tok, id, maxID)
		}
		m.vocab[tok], m.tokens[id] = id, tok
	}
	for _, a := range m.added.list {
		m.vocab[a.content], m.tokens[a.id] = a.id, a.content
	}
	if id, ok := m.vocab[tj.Model.UnkToken]; ok {
		m.unkID = id
	} else {
		return nil, fmt.Errorf("%s: model.unk_token %q is not in the vocab", file, tj.Model.UnkToken)
	}
	// Absent, Hugging Face's default; 0 is a setting (every word [UNK]).
	if n := tj.extra.Model.MaxInputCharsPerWord; n != nil {
		m.maxChars = *n
	} else {
		m.maxChars = 100
	}
	if n := tj.Normalizer; n != nil {
		m.norm = &bertNormalizer{cleanText: n.CleanText, chineseChars: n.HandleChineseChars, lowercase: n.Lowercase}
		m.norm.stripAccents = n.Lowercase
		if n.StripAccents != nil {
			m.norm.stripAccents = *n.StripAccents
		}
	}
	if d := tj.extra.Decoder; d != nil && d.Type == "WordPiece" {
		m.decoder = wordPieceDecoder{prefix: d.Prefix, cleanup: d.Cleanup == nil || *d.Cleanup}
	}
	return m, nil
}

func (m *wordPiece) encode(text string) []int {
	return m.added.encode(nil, text, func(ids []int, s string, _ bool) []int {
		if m.norm != nil {
			s = m.norm.normalize(s)
		}
		for _, word := range bertPreTokenize(s) {
			ids = m.wordPiece(ids, word)
		}
		return ids
	})
}

// wordPiece appends the ids of word: the longest vocabulary prefix, then
// the longest "##" continuation, and so on; [UNK] for the whole word if a
// step finds nothing or the word is longer than maxChars characters.
func (m *wordPiece) wordPiece(ids []int, word string) []int {
	if utf8.RuneCountInString(word) > m.maxChars {
		return append(ids, m.unkID)
	}
	n := len(ids)
	for start := 0; start < len(word); {
		end := len(word)
		found := -1
		for start < end {
			sub := word[start:end]
			if start > 0 {
				sub = m.prefix + sub
			}
			if id, ok := m.vocab[sub]; ok {
				found = id
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if found < 0 {
			return append(ids[:n], m.unkID)
		}
		ids = append(ids, found)
		start = end
	}
	return ids
}

// normalize applies clean_text, handle_chinese_chars, strip_accents and
// lowercase, in Hugging Face's order.
func (n *bertNormalizer) normalize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case n.cleanText && (r == 0 || r == unicode.ReplacementChar || (isOther(r) && r != '\t' && r != '\n' && r != '\r')):
		case n.cleanText && unicode.IsSpace(r):
			b.WriteByte(' ')
		case n.chineseChars && isChineseChar(r):
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	s = b.String()
	if n.stripAccents {
		s = strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Mn, r) {
				return -1
			}
			return r
		}, norm.NFD.String(s))
	}
	if n.lowercase {
		s = lowercase(s)
	}
	return s
}

// isOther reports whether r is in Unicode's general category C: Cc, Cf,
// Co, Cs, or unassigned (Cn).
func isOther(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isChineseChar reports whether r is in the CJK ideograph blocks BERT
// puts spaces around.
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// bertPreTokenize splits s on white space (dropped) and punctuation (kept
// as one-character words): ASCII punctuation and Unicode's P categories.
func bertPreTokenize(s string) []string {
	var words []string
	start := -1
	for i, r := range s {
		space := unicode.IsSpace(r)
		punct := unicode.IsPunct(r) || (r < utf8.RuneSelf && unicode.IsPrint(r) && !space && !unicode.IsLetter(r) && !unicode.IsDigit(r))
		if space || punct {
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			if punct {
				words = append(words, s[i:i+utf8.RuneLen(r)])
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

func (m *wordPiece) decode(ids []int) []byte {
	var tokens []string
	for _, id := range ids {
		if s, ok := m.tokens[id]; ok {
			tokens = append(tokens, s)
		}
	}
	return []byte(m.decoder.decode(tokens))
}

// wordPieceDecoder is Hugging Face's WordPiece decoder.
type wordPieceDecoder struct {
	prefix  string
	cleanup bool
}

func (d *wordPieceDecoder) decode(tokens []string) string {
	var b strings.Builder
	for i, tok := range tokens {
		if i > 0 {
			if rest, ok := strings.CutPrefix(tok, d.prefix); ok {
				tok = rest
			} else {
				tok = " " + tok
			}
		}
		if d.cleanup {
			tok = cleanupSpaces.Replace(tok)
		}
		b.WriteString(tok)
	}
	return b.String()
}

// cleanupSpaces is Hugging Face's decoder cleanup (applied per token).
var cleanupSpaces = strings.NewReplacer(
	" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't",
	" 'm", "'m", " do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re")

// tokenBytes: WordPiece tokens have no bytes of their own ("##" joins
// depend on the neighbours); StreamDecoder handles them.
func (m *wordPiece) tokenBytes(int) ([]byte, bool) { return nil, false }
