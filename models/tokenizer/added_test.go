package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naiveSplit is the reference: at each position the longest token that
// starts there, trying every token.
func naiveSplit(list []addedToken, text string) []segment {
	var segs []segment
	start := 0
	for i := 0; i < len(text); {
		best := -1
		for j, t := range list {
			if strings.HasPrefix(text[i:], t.content) && (best < 0 || len(t.content) > len(list[best].content)) {
				best = j
			}
		}
		if best < 0 {
			i++
			continue
		}
		if start < i {
			segs = append(segs, segment{text: text[start:i], id: -1})
		}
		segs = append(segs, segment{id: list[best].id})
		i += len(list[best].content)
		start = i
	}
	if start < len(text) || len(segs) == 0 {
		segs = append(segs, segment{text: text[start:], id: -1})
	}
	return segs
}

// TestAddedTokensSplit compares the automaton with the reference on random
// tokens over a small alphabet (overlapping, nested, repeated) and texts.
func TestAddedTokensSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc<|>"[rng.IntN(6)]
		}
		return string(b)
	}
	for trial := range 300 {
		var list []addedToken
		for i := range 1 + rng.IntN(12) {
			list = append(list, addedToken{id: 1000 + i, content: word(1 + rng.IntN(5))})
		}
		a := newAddedTokens(list)
		text := word(rng.IntN(80))
		if got, want := a.split(text), naiveSplit(a.list, text); !slices.Equal(got, want) {
			t.Fatalf("trial %d: tokens %v, text %q:\n got %v\nwant %v", trial, a.list, text, got, want)
		}
	}
}

// TestAddedTokensLinear: finding 60,000 added tokens in 1 MB of text
// follows at most two automaton transitions a byte, even where every
// position starts a long near-match ("aaa…ab" tokens in a text of a's),
// which made the old scan try every token at every byte.
func TestAddedTokensLinear(t *testing.T) {
	var list []addedToken
	for i := range 60000 {
		content := fmt.Sprintf("<|extra_%d|>", i)
		if i < 300 {
			content = strings.Repeat("a", i+1) + "b"
		}
		list = append(list, addedToken{id: 50000 + i, content: content})
	}
	a := newAddedTokens(list)
	text := strings.Repeat("a", 1<<19) + strings.Repeat("x <|extra_59999|> y ", 1<<19/20)
	longest, steps := a.match.longestAt(text)
	if steps > 2*len(text) {
		t.Errorf("%d transitions for %d bytes", steps, len(text))
	}
	if len(longest) != len(text) {
		t.Fatalf("%d positions for %d bytes", len(longest), len(text))
	}
	segs := a.split(text)
	found := 0
	for _, s := range segs {
		if s.id == 50000+59999 {
			found++
		}
	}
	if found != 1<<19/20 {
		t.Errorf("found <|extra_59999|> %d times, want %d", found, 1<<19/20)
	}
}
