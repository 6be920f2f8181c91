package tokenizer

import "sort"

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
	match     *matcher
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
	a.match = newMatcher(a.list)
	return a
}

// split cuts text around the added tokens it holds: from the left, the
// longest token that starts at each place (the first listed of equal
// contents), as Hugging Face's leftmost-longest matching does. It takes
// time linear in the text whatever the tokens (see matcher).
func (a *addedTokens) split(text string) []segment {
	if a == nil || len(a.list) == 0 {
		return []segment{{text: text, id: -1}}
	}
	longest, _ := a.match.longestAt(text)
	var segs []segment
	start := 0
	for i := 0; i < len(text); {
		node := longest[i]
		if node == 0 {
			i++
			continue
		}
		if start < i {
			segs = append(segs, segment{text: text[start:i], id: -1})
		}
		segs = append(segs, segment{id: a.match.id[node]})
		i += int(a.match.depth[node])
		start = i
	}
	if start < len(text) || len(segs) == 0 {
		segs = append(segs, segment{text: text[start:], id: -1})
	}
	return segs
}

// matcher finds, for every position of a text, the longest added token
// starting there, in one pass: an Aho–Corasick automaton over the tokens
// written backwards, run over the text backwards. At each position its
// state is the longest reversed-token prefix ending there, and the longest
// whole token among that state's suffixes (out) is the longest token
// starting at that position in the forward text.
type matcher struct {
	edges map[uint64]int32 // node<<8 | byte → child
	fail  []int32
	depth []int32
	id    []int     // the token a terminal node ends (first listed wins)
	term  []bool    // whether a token ends at the node
	out   []int32   // the deepest terminal node among the node's suffixes, 0: none
	kids  [][]int32 // children, for the breadth-first pass
	steps int       // transitions taken by the last longestAt (for tests)
}

func newMatcher(tokens []addedToken) *matcher {
	m := &matcher{edges: map[uint64]int32{}}
	m.node(0)
	for _, t := range tokens {
		cur := int32(0)
		for i := len(t.content) - 1; i >= 0; i-- {
			key := uint64(cur)<<8 | uint64(t.content[i])
			next, ok := m.edges[key]
			if !ok {
				next = m.node(cur)
				m.edges[key] = next
			}
			cur = next
		}
		if !m.term[cur] {
			m.term[cur], m.id[cur] = true, t.id
		}
	}
	m.link()
	return m
}

// node adds a child of parent (or the root) and returns it.
func (m *matcher) node(parent int32) int32 {
	n := int32(len(m.fail))
	depth := int32(0)
	if n > 0 {
		depth = m.depth[parent] + 1
		m.kids[parent] = append(m.kids[parent], n)
	}
	m.fail = append(m.fail, 0)
	m.depth = append(m.depth, depth)
	m.id = append(m.id, -1)
	m.term = append(m.term, false)
	m.out = append(m.out, 0)
	m.kids = append(m.kids, nil)
	return n
}

// link sets the failure links and outputs, breadth first.
func (m *matcher) link() {
	queue := []int32{0}
	label := make([]byte, len(m.fail))
	for key, child := range m.edges {
		label[child] = byte(key)
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range m.kids[u] {
			queue = append(queue, v)
			if u != 0 {
				m.fail[v] = m.step(m.fail[u], label[v])
			}
			m.out[v] = m.out[m.fail[v]]
			if m.term[v] {
				m.out[v] = v
			}
		}
	}
	m.kids = nil
}

// step follows the automaton from state on byte b.
func (m *matcher) step(state int32, b byte) int32 {
	for {
		if next, ok := m.edges[uint64(state)<<8|uint64(b)]; ok {
			return next
		}
		if state == 0 {
			return 0
		}
		state = m.fail[state]
	}
}

// longestAt returns, for each byte position of text, the terminal node of
// the longest token starting there (0: none), and the transitions it
// followed: at most two a byte, since every failure link taken drops a
// level that a byte climbed.
func (m *matcher) longestAt(text string) (longest []int32, steps int) {
	longest = make([]int32, len(text))
	state := int32(0)
	for i := len(text) - 1; i >= 0; i-- {
		key := uint64(text[i])
		for {
			steps++
			if next, ok := m.edges[uint64(state)<<8|key]; ok {
				state = next
				break
			}
			if state == 0 {
				break
			}
			state = m.fail[state]
		}
		longest[i] = m.out[state]
	}
	return longest, steps
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
