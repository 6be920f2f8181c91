package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestLoadErrors checks that bad input gives an error naming the file (and
// the field, where there is one) instead of a panic.
func TestLoadErrors(t *testing.T) {
	spModel := filepath.Join("testdata", "sp-unigram.model")
	spData, err := os.ReadFile(spModel)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files map[string]string // folder contents; nil: the folder does not exist
		want  []string          // substrings of the error
	}{
		{"missing folder", nil, []string{"no-such-folder", "no such file"}},
		{"no known files", map[string]string{"README.md": "hi", "config.json": "{}"}, []string{"no tokenizer file", "tokenizer.json", "tokenizer.model"}},
		{"vocab.json without merges.txt", map[string]string{"vocab.json": `{"a": 0}`}, []string{"no tokenizer file"}},
		{"truncated tokenizer.json", map[string]string{"tokenizer.json": `{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0`}, []string{"tokenizer.json", "unexpected end of JSON input"}},
		{"tokenizer.json without vocab", map[string]string{"tokenizer.json": `{"model": {"type": "BPE"}}`}, []string{"tokenizer.json", "model.vocab"}},
		{"tokenizer.json unknown model", map[string]string{"tokenizer.json": `{"model": {"type": "WordLevel", "vocab": {"a": 0}}}`}, []string{"tokenizer.json", "model.type", "WordLevel"}},
		{"tokenizer.json wrong field type", map[string]string{"tokenizer.json": `{"model": {"type": 7, "vocab": {"a": 0}}}`}, []string{"tokenizer.json", "model.type"}},
		{"garbage tokenizer.model", map[string]string{"tokenizer.model": "this is not a sentencepiece model\n"}, []string{"tokenizer.model", "not a SentencePiece model"}},
		{"empty tokenizer.model", map[string]string{"tokenizer.model": ""}, []string{"tokenizer.model", "pieces"}},
		{"truncated tokenizer.model", map[string]string{"tokenizer.model": string(spData[:len(spData)/2])}, []string{"tokenizer.model"}},
		{"GPT-2 merges with unknown token", map[string]string{"vocab.json": gpt2MiniVocab(), "merges.txt": "#version: 0.2\nx zz\n"}, []string{"merges.txt", "entry 0"}},
		{"GPT-2 vocab not an object", map[string]string{"vocab.json": `["a"]`, "merges.txt": ""}, []string{"vocab.json", "JSON object"}},
		{"GPT-2 vocab without byte tokens", map[string]string{"vocab.json": `{"a": 0}`, "merges.txt": ""}, []string{"vocab.json", "byte 0x00"}},
		{"empty vocab.txt", map[string]string{"vocab.txt": "\n"}, []string{"vocab.txt", "empty"}},
		{"vocab.txt without [UNK]", map[string]string{"vocab.txt": "a\nb\n"}, []string{"vocab.txt", "unk_token"}},
		{"malformed tokenizer_config.json", map[string]string{"tokenizer.model": string(spData), "tokenizer_config.json": `{"add_bos_token": tru`}, []string{"tokenizer_config.json"}},
		{"config field of the wrong type", map[string]string{"tokenizer.model": string(spData), "tokenizer_config.json": `{"add_bos_token": "yes"}`}, []string{"tokenizer_config.json", "add_bos_token"}},
		{"config token object of the wrong type", map[string]string{"tokenizer.model": string(spData), "special_tokens_map.json": `{"bos_token": 3}`}, []string{"special_tokens_map.json", "bos_token"}},
		{"config token not in the vocabulary", map[string]string{"tokenizer.model": string(spData), "tokenizer_config.json": `{"pad_token": "<nope>"}`}, []string{"tokenizer_config.json", "pad_token", "<nope>"}},
		{"config max length of the wrong type", map[string]string{"tokenizer.model": string(spData), "tokenizer_config.json": `{"model_max_length": "long"}`}, []string{"tokenizer_config.json", "model_max_length"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "no-such-folder")
			if tc.files != nil {
				dir = t.TempDir()
				for name, content := range tc.files {
					write(t, filepath.Join(dir, name), []byte(content))
				}
			}
			tok, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded (%s), want an error", tok.Format())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// gpt2MiniVocab returns a vocab.json holding the 256 byte symbols.
func gpt2MiniVocab() string {
	vocab := map[string]int{}
	for b, r := range byteToRune {
		vocab[string(r)] = b
	}
	data, _ := json.Marshal(vocab)
	return string(data)
}

// TestLoadFileOrFolder checks that a file path and its folder load the
// same tokenizer, and that a SentencePiece model of any name loads.
func TestLoadFileOrFolder(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "sp-bpe.model"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "tokenizer.model"), data)
	for _, path := range []string{dir, filepath.Join(dir, "tokenizer.model"), filepath.Join("testdata", "sp-bpe.model")} {
		tok := load(t, path)
		if tok.Format() != FormatSentencePiece || tok.VocabSize() != 400 {
			t.Errorf("Load(%s): format %s, vocab %d; want sentencepiece, 400", path, tok.Format(), tok.VocabSize())
		}
	}
	gpt2 := filepath.Dir(assets.Require(t, assets.GPT2Encoder))
	for _, name := range []string{"encoder.json", "vocab.bpe"} {
		if tok := load(t, filepath.Join(gpt2, name)); tok.Format() != FormatGPT2 {
			t.Errorf("Load(%s): format %s", name, tok.Format())
		}
	}
}

// TestConfig checks tokenizer_config.json: add_bos_token, add_eos_token,
// special tokens given as strings or objects, model_max_length.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "sp-unigram.model"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "tokenizer.model"), data)
	write(t, filepath.Join(dir, "tokenizer_config.json"), []byte(`{
		"add_bos_token": false, "add_eos_token": true, "model_max_length": 512,
		"pad_token": {"content": "</s>", "special": true}, "eos_token": "</s>", "mask_token": null}`))
	tok := load(t, dir)
	ids := tok.Encode("Hello")
	plain := tok.EncodeWith("Hello", EncodeOptions{NoSpecialTokens: true})
	if want := append(slices.Clone(plain), 2); !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v (no BOS, EOS last)", ids, want)
	}
	if tok.ModelMaxLength != 512 || tok.Special.PAD != 2 || tok.Special.BOS != 1 || tok.Special.MASK != -1 {
		t.Errorf("ModelMaxLength %d, Special %+v", tok.ModelMaxLength, tok.Special)
	}
	// A huge model_max_length is Hugging Face's "no limit".
	write(t, filepath.Join(dir, "tokenizer_config.json"), []byte(`{"model_max_length": 1000000000000000019884624838656}`))
	if tok := load(t, dir); tok.ModelMaxLength != 0 {
		t.Errorf("ModelMaxLength = %d, want 0", tok.ModelMaxLength)
	}
}

// TestEncodeOptions checks truncation (special tokens kept) and leaving
// out special tokens, on BERT and LLaMA 2.
func TestEncodeOptions(t *testing.T) {
	bert := load(t, filepath.Dir(assets.Require(t, assets.BERTTokenizer)))
	llama := load(t, assets.Require(t, assets.Llama2Tokenizer))
	text := "before we proceed any further, hear me speak."
	full := bert.Encode(text) // [CLS] … [SEP], 12 ids
	tests := []struct {
		name string
		tok  *Tokenizer
		opts EncodeOptions
		want []int32
	}{
		{"bert default", bert, EncodeOptions{}, full},
		{"bert no special", bert, EncodeOptions{NoSpecialTokens: true}, full[1 : len(full)-1]},
		{"bert truncate right", bert, EncodeOptions{MaxLength: 5}, []int32{101, 2077, 2057, 10838, 102}},
		{"bert truncate left", bert, EncodeOptions{MaxLength: 5, TruncateLeft: true}, []int32{101, 2033, 3713, 1012, 102}},
		{"bert max below specials", bert, EncodeOptions{MaxLength: 1}, []int32{101, 102}},
		{"bert max above length", bert, EncodeOptions{MaxLength: 100}, full},
		{"llama BOS", llama, EncodeOptions{}, []int32{1, 15043, 3186}},
		{"llama truncate", llama, EncodeOptions{MaxLength: 2}, []int32{1, 15043}},
		{"llama no special", llama, EncodeOptions{NoSpecialTokens: true}, []int32{15043, 3186}},
	}
	for _, tc := range tests {
		input := text
		if tc.tok == llama {
			input = "Hello world"
		}
		if got := tc.tok.EncodeWith(input, tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: EncodeWith(%q, %+v) = %v, want %v", tc.name, input, tc.opts, got, tc.want)
		}
	}
	// Pairs truncate the longer sequence first.
	ids, types := bert.EncodePair("a b c d e f g h", "x y", EncodeOptions{MaxLength: 9})
	if len(ids) != 9 || ids[0] != 101 || ids[len(ids)-1] != 102 || types[len(types)-1] != 1 || types[0] != 0 {
		t.Errorf("EncodePair truncated = %v, %v", ids, types)
	}
	if n := slices.Index(types, 1); n != 6 {
		t.Errorf("EncodePair truncated: second sequence starts at %d, want 6 (4 ids of the first kept): %v", n, ids)
	}
}

// TestEncodeBatch checks padding on either side, attention masks and the
// errors.
func TestEncodeBatch(t *testing.T) {
	gpt2 := load(t, filepath.Dir(assets.Require(t, assets.GPT2Encoder)))
	texts := []string{"Hello", "Hello, world!", ""}
	if _, err := gpt2.EncodeBatch(texts, BatchOptions{Padding: PadLongest}); err == nil || !strings.Contains(err.Error(), "PAD") {
		t.Errorf("padding without a PAD token: err = %v, want one naming PAD", err)
	}
	b, err := gpt2.EncodeBatch(texts, BatchOptions{})
	if err != nil || len(b.IDs[0]) != 1 || len(b.IDs[1]) != 4 || len(b.IDs[2]) != 0 {
		t.Fatalf("no padding: %+v, %v", b, err)
	}
	// PadID pads for one call and leaves the shared tokenizer as it was.
	zero := int32(0)
	b, err = gpt2.EncodeBatch(texts, BatchOptions{Padding: PadLongest, PadID: &zero})
	if err != nil || !slices.Equal(b.IDs[0], []int32{15496, 0, 0, 0}) || gpt2.Special.PAD != -1 {
		t.Fatalf("PadID 0: ids %v, err %v, Special.PAD after the call %d (want -1)", b.IDs, err, gpt2.Special.PAD)
	}
	gpt2.Special.PAD = gpt2.Special.EOS
	tests := []struct {
		opts     BatchOptions
		ids      [][]int32
		mask     [][]int32
		wantsErr bool
	}{
		{BatchOptions{Padding: PadLongest}, [][]int32{{15496, 50256, 50256, 50256}, {15496, 11, 995, 0}, {50256, 50256, 50256, 50256}},
			[][]int32{{1, 0, 0, 0}, {1, 1, 1, 1}, {0, 0, 0, 0}}, false},
		{BatchOptions{Padding: PadLongest, PadLeft: true}, [][]int32{{50256, 50256, 50256, 15496}, {15496, 11, 995, 0}, {50256, 50256, 50256, 50256}},
			[][]int32{{0, 0, 0, 1}, {1, 1, 1, 1}, {0, 0, 0, 0}}, false},
		{BatchOptions{Padding: PadMaxLength, EncodeOptions: EncodeOptions{MaxLength: 2}}, [][]int32{{15496, 50256}, {15496, 11}, {50256, 50256}},
			[][]int32{{1, 0}, {1, 1}, {0, 0}}, false},
		{BatchOptions{Padding: PadMaxLength}, nil, nil, true},
		{BatchOptions{Padding: Padding(9)}, nil, nil, true},
	}
	for _, tc := range tests {
		b, err := gpt2.EncodeBatch(texts, tc.opts)
		if tc.wantsErr {
			if err == nil {
				t.Errorf("%+v: no error", tc.opts)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc.opts, err)
		}
		for i := range texts {
			if !slices.Equal(b.IDs[i], tc.ids[i]) || !slices.Equal(b.AttentionMask[i], tc.mask[i]) || len(b.TypeIDs[i]) != len(tc.ids[i]) {
				t.Errorf("%+v row %d: ids %v mask %v types %v; want %v %v", tc.opts, i, b.IDs[i], b.AttentionMask[i], b.TypeIDs[i], tc.ids[i], tc.mask[i])
			}
		}
	}
}

// TestDecode checks special-token skipping and that ids outside the
// vocabulary are skipped rather than panicking.
func TestDecode(t *testing.T) {
	bert := load(t, filepath.Dir(assets.Require(t, assets.BERTTokenizer)))
	llama := load(t, assets.Require(t, assets.Llama2Tokenizer))
	gpt2 := load(t, filepath.Dir(assets.Require(t, assets.GPT2Encoder)))
	tests := []struct {
		tok  *Tokenizer
		ids  []int32
		skip bool
		want string
	}{
		{bert, []int32{101, 7592, 1010, 2088, 999, 102}, false, "[CLS] hello, world! [SEP]"},
		{bert, []int32{101, 7592, 1010, 2088, 999, 102}, true, "hello, world!"},
		{bert, []int32{-1, 7592, 1 << 30}, true, "hello"},
		{llama, []int32{1, 15043, 3186, 2}, true, "Hello world"},
		{llama, []int32{-7, 15043, 99999}, true, "Hello"},
		{llama, []int32{15043, 0}, true, "Hello ⁇ "},
		{gpt2, []int32{15496, 50256, 15496}, false, "Hello<|endoftext|>Hello"},
		{gpt2, []int32{15496, 50256, 15496}, true, "HelloHello"},
		{gpt2, []int32{-1, 50257, 15496}, true, "Hello"},
		{gpt2, []int32{447}, true, "\uFFFD\uFFFD"}, // two bytes of a three-byte character
	}
	for _, tc := range tests {
		if got := tc.tok.Decode(tc.ids, tc.skip); got != tc.want {
			t.Errorf("%s Decode(%v, %v) = %q, want %q", tc.tok.Format(), tc.ids, tc.skip, got, tc.want)
		}
	}
}

// TestLookups checks id↔token lookups, token bytes and special tokens.
func TestLookups(t *testing.T) {
	llama := load(t, assets.Require(t, assets.Llama2Tokenizer))
	gpt2 := load(t, filepath.Dir(assets.Require(t, assets.GPT2Encoder)))
	bert := load(t, filepath.Dir(assets.Require(t, assets.BERTTokenizer)))
	if want := (SpecialTokens{BOS: 1, EOS: 2, PAD: -1, UNK: 0, CLS: -1, SEP: -1, MASK: -1}); llama.Special != want {
		t.Errorf("LLaMA 2 Special = %+v, want %+v", llama.Special, want)
	}
	if llama.VocabSize() != 32000 || !llama.IsSpecial(1) || llama.IsSpecial(0) || llama.Special.Has(llama.Special.PAD) {
		t.Errorf("LLaMA 2: VocabSize %d, IsSpecial(1) %v, IsSpecial(0) %v", llama.VocabSize(), llama.IsSpecial(1), llama.IsSpecial(0))
	}
	lookups := []struct {
		tok   *Tokenizer
		id    int32
		token string
		bytes string // "" with ok false: no bytes
	}{
		{llama, 15043, "▁Hello", " Hello"},
		{llama, 243, "<0xF0>", "\xf0"},
		{llama, 1, "<s>", "\x00"[:0]},
		{gpt2, 995, "Ġworld", " world"},
		{gpt2, 50256, "<|endoftext|>", "<|endoftext|>"},
		{gpt2, 447, "âĢ", "\xe2\x80"},
		{bert, 7592, "hello", ""},
	}
	for _, l := range lookups {
		if tok, ok := l.tok.IDToToken(l.id); !ok || tok != l.token {
			t.Errorf("%s IDToToken(%d) = %q, %v; want %q", l.tok.Format(), l.id, tok, ok, l.token)
		}
		if id, ok := l.tok.TokenToID(l.token); !ok || id != l.id {
			t.Errorf("%s TokenToID(%q) = %d, %v; want %d", l.tok.Format(), l.token, id, ok, l.id)
		}
		b, ok := l.tok.TokenBytes(l.id)
		if l.tok == bert {
			if ok {
				t.Errorf("BERT TokenBytes(%d) = %q, want none", l.id, b)
			}
		} else if !ok || string(b) != l.bytes {
			t.Errorf("%s TokenBytes(%d) = %q, %v; want %q", l.tok.Format(), l.id, b, ok, l.bytes)
		}
	}
	for _, tok := range []*Tokenizer{llama, gpt2, bert} {
		if _, ok := tok.IDToToken(-1); ok {
			t.Errorf("%s IDToToken(-1) ok", tok.Format())
		}
		if _, ok := tok.IDToToken(1 << 30); ok {
			t.Errorf("%s IDToToken(1<<30) ok", tok.Format())
		}
		if _, ok := tok.TokenToID("no such token ☃☃"); ok {
			t.Errorf("%s TokenToID of a missing token ok", tok.Format())
		}
		if _, ok := tok.TokenBytes(-3); ok {
			t.Errorf("%s TokenBytes(-3) ok", tok.Format())
		}
	}
}

// TestStreamDecoder feeds the ids of every hard golden string one at a time
// and checks that the pieces are whole UTF-8 characters that add up to
// Decode of all the ids.
func TestStreamDecoder(t *testing.T) {
	toks := map[string]*Tokenizer{
		"gpt2":              load(t, filepath.Dir(assets.Require(t, assets.GPT2Encoder))),
		"llama2":            load(t, assets.Require(t, assets.Llama2Tokenizer)),
		"bert-base-uncased": load(t, filepath.Dir(assets.Require(t, assets.BERTTokenizer))),
	}
	for name, tok := range toks {
		g := readGolden(t, name)
		for _, c := range g.Cases {
			if c.Line != nil && *c.Line > 50 {
				continue
			}
			streamMatchesDecode(t, name, c.name(), tok, tok.Encode(c.Text))
		}
	}
	// An incomplete character is held back until completed.
	gpt2 := toks["gpt2"]
	d := gpt2.NewStreamDecoder(false)
	ids := gpt2.Encode("👍") // split across byte tokens
	if len(ids) < 2 {
		t.Fatalf("Encode(👍) = %v, want several byte tokens", ids)
	}
	for _, id := range ids[:len(ids)-1] {
		if s := d.Next(id); s != "" {
			t.Errorf("Next gave %q before the character was complete", s)
		}
	}
	if s := d.Next(ids[len(ids)-1]); s != "👍" {
		t.Errorf("Next of the last byte = %q, want 👍", s)
	}
	d.Next(ids[0])
	if s := d.Flush(); s == "" || strings.Trim(s, "\uFFFD") != "" {
		t.Errorf("Flush of a partial character = %q, want U+FFFD", s)
	}
}

// streamMatchesDecode feeds ids to a StreamDecoder one at a time and checks
// that the pieces are whole UTF-8 characters that add up to Decode.
func streamMatchesDecode(t *testing.T, name, input string, tok *Tokenizer, ids []int32) {
	t.Helper()
	d := tok.NewStreamDecoder(true)
	var out strings.Builder
	for _, id := range ids {
		piece := d.Next(id)
		if !utf8.ValidString(piece) {
			t.Errorf("%s %s: piece %q is not valid UTF-8", name, input, piece)
		}
		out.WriteString(piece)
	}
	out.WriteString(d.Flush())
	if want := tok.Decode(ids, true); out.String() != want {
		t.Errorf("%s %s: streamed %q, Decode %q", name, input, out.String(), want)
	}
}

// TestGPT2Split checks the hand-written GPT-2 pre-tokenization pattern.
func TestGPT2Split(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello, world!", []string{"Hello", ",", " world", "!"}},
		{"don't it's we'll I'm you're they've he'd", []string{"don", "'t", " it", "'s", " we", "'ll", " I", "'m", " you", "'re", " they", "'ve", " he", "'d"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"a \n b", []string{"a", " \n", " b"}},
		{"end   ", []string{"end", "   "}},
		{"x123 4", []string{"x", "123", " 4"}},
		{" !!?'s", []string{" !!?'", "s"}},
		{"'", []string{"'"}},
		{"''s", []string{"''", "s"}},
		{"\t\tx", []string{"\t", "\t", "x"}},
		{"中文 😀", []string{"中文", " 😀"}},
	}
	for _, tc := range tests {
		var got []string
		for s := tc.in; s != ""; {
			n := gpt2Split(s)
			got = append(got, s[:n])
			s = s[n:]
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("split(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCorruptFilesDoNotPanic loads truncated copies of real files: each
// must load or fail with an error, and what loads must encode and decode.
func TestCorruptFilesDoNotPanic(t *testing.T) {
	files := []struct{ name, src string }{
		{"tokenizer.model", filepath.Join("testdata", "sp-bpe.model")},
		{"tokenizer.json", assets.Require(t, assets.BERTTokenizer)},
		{"tokenizer.json", filepath.Join("testdata", "hf-unigram.json")},
		{"tokenizer.json", filepath.Join("testdata", "hf-llama2.json")},
		{"tokenizer.json", filepath.Join("testdata", "hf-llama3.json")},
	}
	for _, file := range files {
		name, src := file.name, file.src
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, frac := range []float64{0, 0.01, 0.1, 0.37, 0.5, 0.9, 0.999} {
			dir := t.TempDir()
			write(t, filepath.Join(dir, name), data[:int(float64(len(data))*frac)])
			if tok, err := Load(dir); err == nil {
				tok.Decode(tok.Encode("Hello, world! 你好 👍"), false)
			} else if !strings.Contains(err.Error(), name) {
				t.Errorf("%s cut at %.0f%%: error %q does not name the file", name, 100*frac, err)
			}
		}
	}
}

// TestGoHuggingFaceFallback checks a tokenizer.json that this package
// hands to go-huggingface (WordPiece behind a Whitespace pre-tokenizer),
// and that a configuration go-huggingface panics on is a Load error.
func TestGoHuggingFaceFallback(t *testing.T) {
	dir := t.TempDir()
	doc := `{"added_tokens": [{"id": 0, "content": "[UNK]", "special": true}],
		"normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"},
		"decoder": %s,
		"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "##s": 3}}}`
	write(t, filepath.Join(dir, "tokenizer.json"), []byte(strings.Replace(doc, "%s", `{"type": "WordPiece", "prefix": "##"}`, 1)))
	tok := load(t, dir)
	if got, want := tok.Encode("Hello worlds zzz"), []int32{1, 2, 3, 0}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if tok.Special.UNK != 0 || tok.VocabSize() != 4 {
		t.Errorf("Special %+v, VocabSize %d", tok.Special, tok.VocabSize())
	}
	write(t, filepath.Join(dir, "tokenizer.json"), []byte(strings.Replace(doc, "%s", `{"type": "Sequence", "decoders": [{"type": "Replace", "content": " "}]}`, 1)))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("Load of a file go-huggingface panics on: err = %v, want an error naming tokenizer.json", err)
	}
}
