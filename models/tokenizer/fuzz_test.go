package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzSentencePieceModel checks that any bytes given as a tokenizer.model
// load or fail cleanly, and that what loads encodes and decodes.
func FuzzSentencePieceModel(f *testing.F) {
	for _, name := range []string{"sp-bpe.model", "sp-unigram.model"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "Hello, world!  ")
		f.Add(data[:len(data)/3], "x")
	}
	f.Add([]byte("garbage"), "")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		m, _, err := loadSentencePiece("tokenizer.model", data)
		if err != nil {
			return
		}
		m.decode(append(m.encode(text), -1, 1<<30))
	})
}

// FuzzEncode checks that GPT-2's pre-tokenizer covers any input in
// non-empty steps and that encoding and decoding any text never panics.
func FuzzEncode(f *testing.F) {
	tok, err := Load(filepath.Join("testdata", "sp-bpe.model"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", " ", "Hello, world!", "a\n\nb", "👨\u200d👩", "\xff\xfe", "don't  stop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for s := text; s != ""; {
			k := gpt2Split(s)
			if k <= 0 || k > len(s) {
				t.Fatalf("gpt2Split(%q) = %d", s, k)
			}
			s = s[k:]
		}
		if got := tok.Decode(tok.Encode(text), true); !utf8.ValidString(got) {
			t.Errorf("Decode(Encode(%q)) = %q is not UTF-8", text, got)
		}
	})
}
