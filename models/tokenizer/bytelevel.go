package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

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

// gpt2Split returns the length in bytes of the first pre-token of s (s not
// empty) under GPT-2's pattern, which Hugging Face's ByteLevel
// pre-tokenizer applies with use_regex
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand because Go's regexp has no look-ahead (and it is
// faster than the general pattern's translation, which it must agree with:
// see TestGPT2Split). \s is Unicode White_Space (unicode.IsSpace), as in
// tiktoken and Hugging Face.
//
// It is our own rather than go-huggingface's hftokenizer because that
// one's ByteLevel pre-tokenizer only splits before spaces: on the GPT-2
// golden, 35 of the 2,068 inputs came out differently from tiktoken with
// go-huggingface v0.4.12 (Shakespeare's "an 't please", "go'st" …).
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
