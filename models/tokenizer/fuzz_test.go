package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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
// non-empty steps and agrees with GPT-2's pattern run through the pattern
// translation, and that encoding and decoding any text never panics, with a
// SentencePiece model and the three tokenizer.json pipelines.
func FuzzEncode(f *testing.F) {
	var toks []*Tokenizer
	for _, name := range []string{"sp-bpe.model", "hf-unigram.json", "hf-llama2.json", "hf-llama3.json"} {
		tok, err := Load(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		toks = append(toks, tok)
	}
	gpt2 := gpt2Pattern(f)
	for _, s := range []string{"", " ", "Hello, world!", "a\n\nb", "👨\u200d👩", "\xff\xfe", "don't  stop", "<s>x</s>", "e\u0301\r\n"} {
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
		if utf8.ValidString(text) && !slices.Equal(splitWith(gpt2, text), splitGPT2(text)) {
			t.Errorf("GPT-2's pattern via regexp splits %q into %q, gpt2Split into %q", text, splitWith(gpt2, text), splitGPT2(text))
		}
		for _, tok := range toks {
			if got := tok.Decode(tok.Encode(text), true); !utf8.ValidString(got) {
				t.Errorf("%s: Decode(Encode(%q)) = %q is not UTF-8", tok.Path(), text, got)
			}
		}
	})
}

// FuzzTokenizerJSON checks that any tokenizer.json loads or fails with an
// error naming the file, and that what loads encodes and decodes any text.
func FuzzTokenizerJSON(f *testing.F) {
	metaspace := `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`
	split := `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{L}+|\\s+(?!\\S)|\\s+"}, "behavior": "MergedWithNext", "invert": true}, {"type": "ByteLevel", "use_regex": false}]}`
	decoders := `{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 2}]}`
	f.Add(unigramJSON(`{"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}]}`, metaspace, decoders), "Hello  wörld\r\n")
	f.Add(bpeJSON(split, `[["a", "b"]]`), "ab ab\u00a0ba")
	f.Add(bpeJSON(metaspace, `["a b"]`), "")
	f.Fuzz(func(t *testing.T, content, text string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "tokenizer.json")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tok, err := Load(file)
		if err != nil {
			if !strings.Contains(err.Error(), "tokenizer.json") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		ids := tok.Encode(text)
		tok.Decode(append(ids, -1, 1<<30, 0, 1, 2), false)
		for _, id := range ids {
			tok.TokenBytes(id)
		}
	})
}
