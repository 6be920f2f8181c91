package tokenizer

import (
	"slices"
	"sort"
	"testing"
)

func TestSaveCharLevel(t *testing.T) {
	text := "ROMEO:\nO, she doth teach the torches to burn bright!\r\n\nJULIET: é ü 日本\t'x'\u0085\u2028"
	seen := map[rune]bool{}
	for _, r := range text {
		seen[r] = true
	}
	var chars []rune
	for r := range seen {
		chars = append(chars, r)
	}
	sort.Slice(chars, func(i, j int) bool { return chars[i] < chars[j] })
	id := func(r rune) int32 { return int32(slices.Index(chars, r)) }

	dir := t.TempDir()
	if err := SaveCharLevel(dir, chars, 64); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != len(chars) || tok.ModelMaxLength != 64 {
		t.Fatalf("vocabulary %d, model_max_length %d; want %d, 64", tok.VocabSize(), tok.ModelMaxLength, len(chars))
	}
	for _, tc := range []struct{ name, in, decoded string }{
		{"all", text, text},
		{"newlines and spaces", "\n \n  x\n", "\n \n  x\n"},
		{"unknown characters vanish", "RZOMEO~:", "ROMEO:"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []int32
			for _, r := range tc.in {
				if seen[r] {
					want = append(want, id(r))
				}
			}
			ids := tok.Encode(tc.in)
			if !slices.Equal(ids, want) {
				t.Fatalf("Encode(%q) = %v, want %v", tc.in, ids, want)
			}
			if got := tok.Decode(ids, true); got != tc.decoded {
				t.Fatalf("Decode = %q, want %q", got, tc.decoded)
			}
		})
	}
	for i := range chars {
		if tok.IsSpecial(int32(i)) {
			t.Errorf("id %d (%q) is special: Decode would drop it", i, chars[i])
		}
	}
}

func TestCharLevelJSONRefusesRepeats(t *testing.T) {
	if _, err := CharLevelJSON([]rune("abca")); err == nil {
		t.Fatal("a repeated character was accepted")
	}
}
