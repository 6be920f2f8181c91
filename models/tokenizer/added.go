package tokenizer

import (
	"sort"
	"strings"
)

// addedToken is a token matched verbatim in the text before the model runs
// (Hugging Face's "added tokens": <|endoftext|>, [CLS] …).
type addedToken struct {
	id      int
	content string
	special bool
}

// addedTokens finds added tokens in text. A nil *addedTokens has none.
type addedTokens struct {
	list      []addedToken // longest content first
	byID      map[int]addedToken
	byContent map[string]addedToken
}

// segment is a piece of text to tokenize, or an added token (id >= 0).
type segment struct {
	text string
	id   int
}

func newAddedTokens(list []addedToken) *addedTokens {
	a := &addedTokens{byID: map[int]addedToken{}, byContent: map[string]addedToken{}}
	for _, t := range list {
		if t.content == "" {
			continue
		}
		a.list = append(a.list, t)
		a.byID[t.id] = t
		a.byContent[t.content] = t
	}
	sort.SliceStable(a.list, func(i, j int) bool { return len(a.list[i].content) > len(a.list[j].content) })
	return a
}

// split cuts text around the added tokens it holds, longest match first.
func (a *addedTokens) split(text string) []segment {
	if a == nil || len(a.list) == 0 {
		return []segment{{text: text, id: -1}}
	}
	var segs []segment
	start := 0
	for i := 0; i < len(text); {
		matched := false
		for _, t := range a.list {
			if strings.HasPrefix(text[i:], t.content) {
				if start < i {
					segs = append(segs, segment{text: text[start:i], id: -1})
				}
				segs = append(segs, segment{id: t.id})
				i += len(t.content)
				start, matched = i, true
				break
			}
		}
		if !matched {
			i++
		}
	}
	if start < len(text) || len(segs) == 0 {
		segs = append(segs, segment{text: text[start:], id: -1})
	}
	return segs
}

// encode appends to ids the ids of text: added tokens where they occur,
// and between them what encodeText appends for the text that is not empty
// (first when it starts the text).
func (a *addedTokens) encode(ids []int, text string, encodeText func(ids []int, s string, first bool) []int) []int {
	for i, seg := range a.split(text) {
		switch {
		case seg.id >= 0:
			ids = append(ids, seg.id)
		case seg.text != "":
			ids = encodeText(ids, seg.text, i == 0)
		}
	}
	return ids
}

// maxID returns the largest added id, or -1.
func (a *addedTokens) maxID() int {
	m := -1
	if a != nil {
		for id := range a.byID {
			m = max(m, id)
		}
	}
	return m
}

// countNew returns how many added tokens are not already in vocab.
func (a *addedTokens) countNew(vocab map[string]int) int {
	n := 0
	if a != nil {
		for _, t := range a.list {
			if id, ok := vocab[t.content]; !ok || id != t.id {
				n++
			}
		}
	}
	return n
}

// vocabulary is a token ↔ id map, for the models that keep one.
type vocabulary struct {
	vocab  map[string]int
	tokens map[int]string
}

func (v *vocabulary) vocabSize() int { return len(v.vocab) }

func (v *vocabulary) idToToken(id int) (string, bool) {
	s, ok := v.tokens[id]
	return s, ok
}

func (v *vocabulary) tokenToID(tok string) (int, bool) {
	id, ok := v.vocab[tok]
	return id, ok
}
