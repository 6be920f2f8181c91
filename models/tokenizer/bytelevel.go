package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// byteLevelBPE is GPT-2's byte-level BPE: text is split by GPT-2's
// pre-tokenization pattern, each piece's UTF-8 bytes are mapped to printable
// characters, and merges join neighbouring symbols in rank order.
//
// It is our own rather than go-huggingface's hftokenizer because that
// one's ByteLevel pre-tokenizer only splits before spaces instead of
// applying GPT-2's pattern ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
// ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+): on the GPT-2 golden, 35 of the 2,068
// inputs came out differently from tiktoken with go-huggingface v0.4.12
// (Shakespeare's "an 't please", "go'st" …).
type byteLevelBPE struct {
	vocab  map[string]int
	tokens []string // by id; "" for ids without a token
	// merges maps a pair of ids to its merge: the rank and the merged id.
	merges map[[2]int]merge
	// byteIDs are the ids of the 256 single-byte symbols.
	byteIDs [256]int
	// added are tokens matched in the text before pre-tokenization, longest
	// first (<|endoftext|> and tokenizer.json's added tokens).
	added *addedTokens
	// addPrefixSpace puts a space before text that does not start with one
	// (tokenizer.json's ByteLevel add_prefix_space).
	addPrefixSpace bool
}

type merge struct{ rank, id int }

// byteToRune is GPT-2's table from bytes to printable characters: printable
// Latin-1 bytes map to themselves, the rest to U+0100 onwards.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// newByteLevelBPE builds the model from a vocabulary and merges ("a b" per
// line, in rank order). file names the source in errors.
func newByteLevelBPE(file string, vocab map[string]int, merges []string, added *addedTokens) (*byteLevelBPE, error) {
	m := &byteLevelBPE{vocab: vocab, merges: make(map[[2]int]merge, len(merges)), added: added}
	size := 0
	for tok, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("%s: vocab: token %q has negative id %d", file, tok, id)
		}
		size = max(size, id+1)
	}
	for _, a := range added.list {
		if a.id < 0 {
			return nil, fmt.Errorf("%s: added token %q has negative id %d", file, a.content, a.id)
		}
	}
	size = max(size, added.maxID()+1)
	if size > 10_000_000 {
		return nil, fmt.Errorf("%s: vocab: id %d is implausibly large", file, size-1)
	}
	m.tokens = make([]string, size)
	for tok, id := range vocab {
		m.tokens[id] = tok
	}
	for _, a := range added.list {
		m.tokens[a.id] = a.content
	}
	for b := range 256 {
		id, ok := vocab[string(byteToRune[b])]
		if !ok {
			return nil, fmt.Errorf("%s: vocab: byte 0x%02X (%q) missing: not a byte-level BPE vocabulary", file, b, byteToRune[b])
		}
		m.byteIDs[b] = id
	}
	for rank, line := range merges {
		left, right, ok := strings.Cut(line, " ")
		if !ok || left == "" || right == "" {
			return nil, fmt.Errorf("%s: merges: entry %d (%q) is not two tokens separated by a space", file, rank, line)
		}
		l, okL := vocab[left]
		r, okR := vocab[right]
		merged, okM := vocab[left+right]
		if !okL || !okR || !okM {
			return nil, fmt.Errorf("%s: merges: entry %d (%q) uses a token missing from the vocab", file, rank, line)
		}
		if _, dup := m.merges[[2]int{l, r}]; !dup {
			m.merges[[2]int{l, r}] = merge{rank, merged}
		}
	}
	return m, nil
}

func (m *byteLevelBPE) encode(text string) []int {
	return m.added.encode(text, func(ids []int, s string) []int {
		if m.addPrefixSpace && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		for len(s) > 0 {
			n := gpt2Split(s)
			ids = m.bpe(ids, s[:n])
			s = s[n:]
		}
		return ids
	})
}

// bpe appends the ids of one pre-token to ids. It merges, as GPT-2's
// encoder.py does, the lowest-ranked pair of neighbours (every occurrence,
// left to right) until no pair has a merge.
func (m *byteLevelBPE) bpe(ids []int, word string) []int {
	syms := make([]int, len(word))
	for i := range len(word) {
		syms[i] = m.byteIDs[word[i]]
	}
	for len(syms) > 1 {
		best := merge{rank: -1}
		var pair [2]int
		for i := 0; i+1 < len(syms); i++ {
			if mg, ok := m.merges[[2]int{syms[i], syms[i+1]}]; ok && (best.rank < 0 || mg.rank < best.rank) {
				best, pair = mg, [2]int{syms[i], syms[i+1]}
			}
		}
		if best.rank < 0 {
			break
		}
		out := syms[:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == pair[0] && syms[i+1] == pair[1] {
				out = append(out, best.id)
				i++
				continue
			}
			out = append(out, syms[i])
		}
		syms = out
	}
	return append(ids, syms...)
}

// gpt2Split returns the length in bytes of the first pre-token of s (s not
// empty) under GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand because Go's regexp has no look-ahead. \s is Unicode
// White_Space (unicode.IsSpace), as in tiktoken and Hugging Face.
func gpt2Split(s string) int {
	if s[0] == '\'' && len(s) >= 2 {
		switch s[1] {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v': // 're, 've
			if len(s) >= 3 && s[2] == 'e' {
				return 3
			}
		case 'l': // 'll
			if len(s) >= 3 && s[2] == 'l' {
				return 3
			}
		}
	}
	start := 0
	if s[0] == ' ' && len(s) > 1 {
		start = 1
	}
	r, _ := utf8.DecodeRuneInString(s[start:])
	class := runeClass(r)
	if start == 1 && class == classSpace {
		start = 0 // " " followed by more space: only the \s branches are left
		class = classSpace
	}
	if class != classSpace {
		// ' ?\p{L}+', ' ?\p{N}+' or ' ?[^\s\p{L}\p{N}]+': a run of one class.
		i := start
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if runeClass(r) != class {
				break
			}
			i += n
		}
		return i
	}
	// A run of white space. \s+(?!\S) leaves the last white-space character
	// to the next pre-token when a non-space follows; \s+ takes a single one.
	i, last := 0, 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		last = i
		i += n
	}
	if i < len(s) && last > 0 {
		return last
	}
	return i
}

type charClass int

const (
	classLetter charClass = iota
	classNumber
	classOther
	classSpace
)

func runeClass(r rune) charClass {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

func (m *byteLevelBPE) decode(ids []int) []byte {
	var out []byte
	for _, id := range ids {
		if id < 0 || id >= len(m.tokens) {
			continue
		}
		if a, ok := m.added.byID[id]; ok {
			out = append(out, a.content...) // added tokens are text, not byte symbols
			continue
		}
		out = appendTokenBytes(out, m.tokens[id])
	}
	return out
}

// appendTokenBytes appends the bytes a byte-level token spells.
func appendTokenBytes(out []byte, tok string) []byte {
	for _, r := range tok {
		if b, ok := runeToByte[r]; ok {
			out = append(out, b)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}

func (m *byteLevelBPE) vocabSize() int { return len(m.vocab) + m.added.countNew(m.vocab) }

func (m *byteLevelBPE) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(m.tokens) || m.tokens[id] == "" {
		return "", false
	}
	return m.tokens[id], true
}

func (m *byteLevelBPE) tokenToID(tok string) (int, bool) {
	if a, ok := m.added.byContent[tok]; ok {
		return a.id, true
	}
	id, ok := m.vocab[tok]
	return id, ok
}

func (m *byteLevelBPE) tokenBytes(id int) ([]byte, bool) {
	if _, ok := m.idToToken(id); !ok {
		return nil, false
	}
	return m.decode([]int{id}), true
}
