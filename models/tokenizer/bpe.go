package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// bpe is Hugging Face's BPE model (tokenizers' models/bpe), the model of
// GPT-2-style byte-level tokenizers (whose pre-tokenizer has already turned
// bytes into characters) and of SentencePiece-converted ones (LLaMA,
// Mistral): a pre-token is cut into characters, characters outside the
// vocabulary become byte tokens (byte_fallback) or the unknown token (runs
// of them fused into one with fuse_unk), and then the pair of neighbours
// with the lowest merge rank is merged, leftmost first, until no pair has a
// merge. With ignore_merges a pre-token that is itself in the vocabulary is
// taken whole.
//
// It replaces go-huggingface's hftokenizer, which has no byte fallback.
type bpe struct {
	vocabulary
	merges map[[2]int]merge
	unkID  int // -1 without unk_token (or when it is not in the vocab)
	// fuseUnk, byteFallback and ignoreMerges are the model's fuse_unk,
	// byte_fallback and ignore_merges.
	fuseUnk, byteFallback, ignoreMerges bool
	// prefix and suffix are continuing_subword_prefix and
	// end_of_word_suffix, put on characters not first and last in a word.
	prefix, suffix string
}

// merge is what a pair of neighbouring ids merges into, and its rank.
type merge struct{ rank, id int }

// bpeOptions are the BPE model's settings besides its vocab and merges,
// and where errors say the vocab and merges come from.
type bpeOptions struct {
	unkToken                string
	fuseUnk, byteFallback   bool
	ignoreMerges            bool
	prefix, suffix          string // continuing_subword_prefix, end_of_word_suffix
	vocabFile, mergesFile   string
	vocabField, mergesField string // "" when the file holds nothing else
}

// newBPE builds the model from vocab and merges (in rank order).
func newBPE(vocab map[string]int, merges [][2]string, opt bpeOptions) (*bpe, error) {
	m := &bpe{
		vocabulary:   vocabulary{vocab: vocab, tokens: make(map[int]string, len(vocab))},
		merges:       make(map[[2]int]merge, len(merges)),
		unkID:        -1,
		fuseUnk:      opt.fuseUnk,
		byteFallback: opt.byteFallback,
		ignoreMerges: opt.ignoreMerges,
		prefix:       opt.prefix,
		suffix:       opt.suffix,
	}
	for tok, id := range vocab {
		switch {
		case id < 0:
			return nil, fmt.Errorf("%s: token %q has negative id %d", where(opt.vocabFile, opt.vocabField), tok, id)
		case id > maxID:
			return nil, fmt.Errorf("%s: token %q has id %d, past the largest token id %d", where(opt.vocabFile, opt.vocabField), tok, id, maxID)
		}
		m.tokens[id] = tok
	}
	if id, ok := vocab[opt.unkToken]; ok && opt.unkToken != "" {
		m.unkID = id
	}
	for rank, pair := range merges {
		l, okL := vocab[pair[0]]
		r, okR := vocab[pair[1]]
		merged, okM := vocab[pair[0]+strings.TrimPrefix(pair[1], m.prefix)]
		if !okL || !okR || !okM {
			return nil, fmt.Errorf("%s: entry %d (%q %q) uses a token missing from the vocab", where(opt.mergesFile, opt.mergesField), rank, pair[0], pair[1])
		}
		// A repeated pair keeps its last rank, as in Hugging Face.
		m.merges[[2]int{l, r}] = merge{rank, merged}
	}
	return m, nil
}

// where names a file, and a field in it when field is not "".
func where(file, field string) string {
	if field == "" {
		return file
	}
	return file + ": field " + field
}

// parseMerges reads tokenizer.json's model.merges: ["a b", …] or
// [["a", "b"], …].
func parseMerges(file string, raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err == nil {
		return pairs, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("%s: field model.merges: want [\"a b\", …] or [[\"a\", \"b\"], …]", file)
	}
	return splitMergeLines(where(file, "model.merges"), lines)
}

// splitMergeLines splits merges written "a b" (merges.txt, vocab.bpe and
// older tokenizer.json files) into pairs: exactly one space, as Hugging
// Face requires. source names the file (and field) in errors.
func splitMergeLines(source string, lines []string) ([][2]string, error) {
	pairs := make([][2]string, len(lines))
	for i, line := range lines {
		parts := strings.Split(line, " ")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("%s: entry %d (%q) is not two tokens separated by a space", source, i, line)
		}
		pairs[i] = [2]string{parts[0], parts[1]}
	}
	return pairs, nil
}

// tokenize appends the ids of one pre-token.
func (m *bpe) tokenize(ids []int, word string) []int {
	if word == "" {
		return ids
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(ids, id)
		}
	}
	return append(ids, m.mergeAll(m.symbols(word))...)
}

// symbols returns the ids of word's characters, as Hugging Face's
// merge_word does before merging: the prefix on all but the first, the
// suffix on the last; a character outside the vocabulary becomes its byte
// tokens, or the unknown token.
func (m *bpe) symbols(word string) []int {
	syms := make([]int, 0, len(word))
	pendingUnk := false
	for i := 0; i < len(word); {
		_, n := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+n]
		if i > 0 {
			s = m.prefix + s
		}
		i += n
		if i == len(word) {
			s += m.suffix
		}
		if id, ok := m.vocab[s]; ok {
			if pendingUnk {
				syms = append(syms, m.unkID)
				pendingUnk = false
			}
			syms = append(syms, id)
			continue
		}
		if m.byteFallback {
			// As in Hugging Face, a pending unknown token is not put out
			// before the byte tokens (it comes after them).
			if byteIDs, ok := byteTokenIDs(m.vocab, s); ok {
				syms = append(syms, byteIDs...)
				continue
			}
		}
		if m.unkID < 0 {
			continue // Hugging Face drops it too
		}
		if pendingUnk && !m.fuseUnk {
			syms = append(syms, m.unkID)
		}
		pendingUnk = true
	}
	if pendingUnk {
		syms = append(syms, m.unkID)
	}
	return syms
}

// mergeAll merges neighbouring symbols as Hugging Face's Word::merge_all
// does: always the pair with the lowest rank, the leftmost of equals,
// until no pair has a merge. (GPT-2's encoder.py, which merges every
// occurrence of the best pair in turn, gives the same result.)
func (m *bpe) mergeAll(ids []int) []int {
	if len(ids) < 2 {
		return ids
	}
	type symbol struct {
		id, prev, next int
		gone           bool
	}
	syms := make([]symbol, len(ids))
	for i, id := range ids {
		syms[i] = symbol{id: id, prev: i - 1, next: i + 1}
	}
	syms[len(syms)-1].next = -1
	type candidate struct{ pos, rank, id int }
	queue := pairHeap[candidate]{less: func(a, b candidate) bool {
		return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
	}}
	push := func(pos int) {
		if pos < 0 || syms[pos].next < 0 {
			return
		}
		if mg, ok := m.merges[[2]int{syms[pos].id, syms[syms[pos].next].id}]; ok {
			queue.push(candidate{pos, mg.rank, mg.id})
		}
	}
	for i := range syms {
		push(i)
	}
	for queue.len() > 0 {
		top := queue.pop()
		s := &syms[top.pos]
		if s.gone || s.next < 0 {
			continue
		}
		right := &syms[s.next]
		if mg, ok := m.merges[[2]int{s.id, right.id}]; !ok || mg.id != top.id {
			continue // stale: a neighbour was merged since
		}
		s.id = top.id
		right.gone = true
		s.next = right.next
		if s.next >= 0 {
			syms[s.next].prev = top.pos
		}
		push(s.prev)
		push(top.pos)
	}
	out := ids[:0]
	for _, s := range syms {
		if !s.gone {
			out = append(out, s.id)
		}
	}
	return out
}
