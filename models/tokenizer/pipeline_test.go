package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// unigramJSON returns a small Unigram tokenizer.json with the given
// normalizer, pre-tokenizer and decoder (JSON values, "null" for none).
func unigramJSON(normalizer, preTokenizer, decoder string) string {
	return `{"added_tokens": [{"id": 0, "content": "<unk>", "special": true, "normalized": false}],
		"normalizer": ` + normalizer + `, "pre_tokenizer": ` + preTokenizer + `, "decoder": ` + decoder + `,
		"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0], ["▁", -2], ["a", -3], ["b", -3], ["▁ab", -4]]}}`
}

// bpeJSON returns a small BPE tokenizer.json with the given pre-tokenizer
// and merges.
func bpeJSON(preTokenizer, merges string) string {
	return `{"pre_tokenizer": ` + preTokenizer + `, "decoder": null,
		"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ` + merges + `}}`
}

// TestPipelineErrors checks that a tokenizer.json the pipeline cannot run
// fails with an error naming the file and the field — Unigram always, and
// BPE where the file is malformed rather than merely beyond the pipeline.
func TestPipelineErrors(t *testing.T) {
	metaspace := `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`
	tests := []struct {
		name, file string
		want       []string
	}{
		{"unknown normalizer", unigramJSON(`{"type": "Sequence", "normalizers": [{"type": "Frobnicate"}]}`, metaspace, "null"),
			[]string{"normalizer.normalizers[0].type", "Frobnicate"}},
		{"normalizer without type", unigramJSON(`{"type": "Sequence", "normalizers": [{}]}`, metaspace, "null"),
			[]string{"normalizer.normalizers[0].type is missing"}},
		{"bad charsmap", unigramJSON(`{"type": "Precompiled", "precompiled_charsmap": "not base64!"}`, metaspace, "null"),
			[]string{"normalizer.precompiled_charsmap", "base64"}},
		{"truncated charsmap", unigramJSON(`{"type": "Precompiled", "precompiled_charsmap": "AQID"}`, metaspace, "null"),
			[]string{"normalizer.precompiled_charsmap", "truncated"}},
		{"replace without content", unigramJSON(`{"type": "Replace", "pattern": {"String": " "}}`, metaspace, "null"),
			[]string{"normalizer.content is missing"}},
		{"replace without pattern", unigramJSON(`{"type": "Replace", "content": " "}`, metaspace, "null"),
			[]string{"normalizer.pattern", "String"}},
		{"metaspace replacement", unigramJSON("null", `{"type": "Metaspace", "replacement": "ab"}`, "null"),
			[]string{"pre_tokenizer.replacement", "one character"}},
		{"metaspace scheme", unigramJSON("null", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes"}`, "null"),
			[]string{"pre_tokenizer.prepend_scheme", "sometimes"}},
		{"metaspace contradiction", unigramJSON("null", `{"type": "Metaspace", "replacement": "▁", "add_prefix_space": false, "prepend_scheme": "always"}`, "null"),
			[]string{"pre_tokenizer", "add_prefix_space"}},
		{"split behavior", unigramJSON("null", `{"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}`, "null"),
			[]string{"pre_tokenizer.behavior", "Sideways"}},
		{"look-behind", unigramJSON("null", `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated"}]}`, "null"),
			[]string{"pre_tokenizer.pretokenizers[0].pattern.Regex", "look-around"}},
		{"possessive", unigramJSON("null", `{"type": "Split", "pattern": {"Regex": "a++"}, "behavior": "Isolated"}`, "null"),
			[]string{"pre_tokenizer.pattern.Regex", "possessive"}},
		{"bad regex", unigramJSON("null", `{"type": "Split", "pattern": {"Regex": "(ab"}, "behavior": "Isolated"}`, "null"),
			[]string{"pre_tokenizer.pattern.Regex", "(ab"}},
		{"unknown pre-tokenizer", unigramJSON("null", `{"type": "Whitespace"}`, "null"),
			[]string{"pre_tokenizer.type", "Whitespace", "Metaspace"}},
		{"unknown decoder", unigramJSON("null", metaspace, `{"type": "Sequence", "decoders": [{"type": "CTC"}]}`),
			[]string{"decoder.decoders[0].type", "CTC"}},
		{"strip decoder content", unigramJSON("null", metaspace, `{"type": "Strip", "content": "ab", "start": 1, "stop": 0}`),
			[]string{"decoder.content", "one character"}},
		{"component not an object", unigramJSON(`"NFC"`, metaspace, "null"),
			[]string{"normalizer"}},
		{"unigram vocab not a list", `{"model": {"type": "Unigram", "vocab": {"a": 0}}}`,
			[]string{"model.vocab", "Unigram"}},
		{"unigram vocab entry", `{"model": {"type": "Unigram", "vocab": [["a", "high"]]}}`,
			[]string{"model.vocab[0]"}},
		{"unigram unk_id", `{"model": {"type": "Unigram", "unk_id": 5, "vocab": [["a", -1]]}}`,
			[]string{"model.unk_id", "5"}},
		{"merges not pairs", bpeJSON("null", `["a b c"]`),
			[]string{"model.merges", "entry 0"}},
		{"merges of a wrong type", bpeJSON("null", `{"a": "b"}`),
			[]string{"model.merges"}},
		{"merge with unknown token", bpeJSON("null", `[["a", "z"]]`),
			[]string{"model.merges", "entry 0", "missing from the vocab"}},
		{"negative id", `{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}`,
			[]string{"model.vocab", "negative id"}},
		{"doubling Replace normalizers", `{"normalizer": {"type": "Sequence", "normalizers": [` + strings.Repeat(`{"type": "Replace", "pattern": {"String": "a"}, "content": "aa"},`, 29) +
			`{"type": "Replace", "pattern": {"String": "a"}, "content": "aa"}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`,
			[]string{"normalizer.normalizers[8] (Replace)", "512 times longer"}},
		{"a Replace that grows", `{"normalizer": {"type": "Replace", "pattern": {"Regex": "."}, "content": "` + strings.Repeat("x", 300) + `"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`,
			[]string{"field normalizer:", "300 times longer"}},
		{"id past 32 bits", `{"model": {"type": "BPE", "vocab": {"a": 1099511627776}, "merges": []}}`,
			[]string{"model.vocab", "1099511627776"}},
		{"BPE look-ahead", bpeJSON(`{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "use_regex": false}, {"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated"}]}`, `[["a", "b"]]`),
			[]string{"pre_tokenizer.pretokenizers[1].pattern.Regex", "look-around"}},
		{"BPE bad regex", bpeJSON(`{"type": "Split", "pattern": {"Regex": "(ab"}, "behavior": "Isolated"}`, `[["a", "b"]]`),
			[]string{"pre_tokenizer.pattern.Regex", "(ab"}},
		{"look-ahead for go-huggingface", bpeJSON(`{"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)|\\s+"}, "behavior": "Isolated"}]}`, `[["a", "b"]]`),
			[]string{"pre_tokenizer.pretokenizers[1].pattern.Regex", "go-huggingface"}},
		{"look-ahead in a normalizer for go-huggingface", `{"normalizer": {"type": "Replace", "pattern": {"Regex": "a(?!b)"}, "content": "b"}, "pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}`,
			[]string{"normalizer.pattern.Regex", "go-huggingface"}},
		{"added token id past 32 bits", `{"added_tokens": [{"id": 1099511627776, "content": "<big>", "special": true}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`,
			[]string{"added_tokens[0].id", "1099511627776", "<big>"}},
		{"negative added token id", `{"added_tokens": [{"id": 0, "content": "a"}, {"id": -3, "content": "<neg>"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`,
			[]string{"added_tokens[1].id", "-3"}},
		{"negative post-processor id", `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [-7], "tokens": ["<s>"]}}}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`,
			[]string{`post_processor.special_tokens["<s>"].ids[0]`, "-7"}},
		{"negative BERT cls id", `{"post_processor": {"type": "Sequence", "processors": [{"type": "BertProcessing", "cls": ["[CLS]", -7], "sep": ["[SEP]", 1]}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`,
			[]string{"post_processor.processors[0].cls", "-7"}},
		{"negative max_input_chars_per_word", `{"pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": -1, "vocab": {"[UNK]": 0, "a": 1}}}`,
			[]string{"model.max_input_chars_per_word", "-1"}},
		{"max_input_chars_per_word 0 for go-huggingface", `{"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 0, "vocab": {"[UNK]": 0, "a": 1}}}`,
			[]string{"model.max_input_chars_per_word", "go-huggingface"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "tokenizer.json"), []byte(tc.file))
			tok, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded (model %T), want an error", tok.model)
			}
			for _, w := range append([]string{"tokenizer.json"}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestPipelineRouting checks which implementation runs a tokenizer.json: a
// BPE file with a part the pipeline lacks goes to go-huggingface (and
// yields to a tokenizer.model beside it), a Unigram one never does.
func TestPipelineRouting(t *testing.T) {
	spModel, err := os.ReadFile(filepath.Join("testdata", "sp-unigram.model"))
	if err != nil {
		t.Fatal(err)
	}
	whitespaceBPE := bpeJSON(`{"type": "Whitespace"}`, `[["a", "b"]]`)
	tests := []struct {
		name   string
		files  map[string]string
		format Format
		model  string // the model's type, as %T prints it
	}{
		{"supported BPE", map[string]string{"tokenizer.json": bpeJSON("null", `[["a", "b"]]`)}, FormatTokenizerJSON, "*tokenizer.pipeline"},
		{"BPE beyond the pipeline", map[string]string{"tokenizer.json": whitespaceBPE}, FormatTokenizerJSON, "*tokenizer.hfModel"},
		{"BPE beyond the pipeline, tokenizer.model beside", map[string]string{"tokenizer.json": whitespaceBPE, "tokenizer.model": string(spModel)}, FormatSentencePiece, "*tokenizer.sentencePiece"},
		{"Unigram beyond the pipeline, tokenizer.model beside", map[string]string{"tokenizer.json": unigramJSON("null", `{"type": "Whitespace"}`, "null"), "tokenizer.model": string(spModel)}, FormatSentencePiece, "*tokenizer.sentencePiece"},
		{"supported Unigram, tokenizer.model beside", map[string]string{"tokenizer.json": unigramJSON("null", "null", "null"), "tokenizer.model": string(spModel)}, FormatTokenizerJSON, "*tokenizer.pipeline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				write(t, filepath.Join(dir, name), []byte(content))
			}
			tok := load(t, dir)
			if got := fmt.Sprintf("%T", tok.model); tok.Format() != tc.format || got != tc.model {
				t.Errorf("Load: format %s, model %s; want %s, %s", tok.Format(), got, tc.format, tc.model)
			}
		})
	}
}

// TestPipelineLookups checks special tokens, id↔token lookups and token
// bytes of the three small tokenizer.json files.
func TestPipelineLookups(t *testing.T) {
	unigram := load(t, filepath.Join("testdata", "hf-unigram.json"))
	llama2 := load(t, filepath.Join("testdata", "hf-llama2.json"))
	llama3 := load(t, filepath.Join("testdata", "hf-llama3.json"))
	specials := []struct {
		tok  *Tokenizer
		want SpecialTokens
	}{
		{unigram, SpecialTokens{BOS: -1, EOS: 1, PAD: 0, UNK: 2, CLS: -1, SEP: -1, MASK: -1}},
		{llama2, SpecialTokens{BOS: 1, EOS: 2, PAD: -1, UNK: 0, CLS: -1, SEP: -1, MASK: -1}},
		{llama3, SpecialTokens{BOS: 3264, EOS: 3265, PAD: -1, UNK: -1, CLS: -1, SEP: -1, MASK: -1}},
	}
	for _, s := range specials {
		if s.tok.Special != s.want {
			t.Errorf("%s: Special = %+v, want %+v", s.tok.Path(), s.tok.Special, s.want)
		}
	}
	lookups := []struct {
		tok          *Tokenizer
		token, bytes string
	}{
		{unigram, "▁the", " the"},
		{unigram, "</s>", "</s>"},
		{llama2, "▁the", " the"},
		{llama2, "<0xF0>", "\xf0"},
		{llama2, "<0x80>", "\x80"},
		{llama2, "<s>", "<s>"},
		{llama3, "Ġthe", " the"},
		{llama3, "âĢ", "\xe2\x80"},
		{llama3, "<|begin_of_text|>", "<|begin_of_text|>"},
	}
	for _, l := range lookups {
		id, ok := l.tok.TokenToID(l.token)
		if !ok {
			t.Errorf("%s: TokenToID(%q) not found", l.tok.Path(), l.token)
			continue
		}
		if tok, ok := l.tok.IDToToken(id); !ok || tok != l.token {
			t.Errorf("%s: IDToToken(%d) = %q, %v; want %q", l.tok.Path(), id, tok, ok, l.token)
		}
		if b, ok := l.tok.TokenBytes(id); !ok || string(b) != l.bytes {
			t.Errorf("%s: TokenBytes(%d) = %q, %v; want %q", l.tok.Path(), id, b, ok, l.bytes)
		}
	}
	for _, tok := range []*Tokenizer{unigram, llama2, llama3} {
		for _, id := range []int32{-1, 1 << 30} {
			if _, ok := tok.IDToToken(id); ok {
				t.Errorf("%s: IDToToken(%d) ok", tok.Path(), id)
			}
			if _, ok := tok.TokenBytes(id); ok {
				t.Errorf("%s: TokenBytes(%d) ok", tok.Path(), id)
			}
		}
		if got := tok.Decode([]int32{-1, 1 << 30}, false); got != "" {
			t.Errorf("%s: Decode of unknown ids = %q", tok.Path(), got)
		}
	}
	// A byte run cut inside a character is held back by a StreamDecoder:
	// "▁" (shown as nothing, the leading space being stripped), then four
	// byte tokens.
	ids := llama2.EncodeWith("👍", EncodeOptions{NoSpecialTokens: true})
	d := llama2.NewStreamDecoder(true)
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, d.Next(id))
	}
	if want := []string{"", "", "", "", "👍"}; !slices.Equal(pieces, want) {
		t.Errorf("streaming %v gave %q, want %q", ids, pieces, want)
	}
}

// TestPatternTranslation checks Oniguruma patterns run through Go's regexp,
// GPT-2's pattern among them, against the hand-written GPT-2 split.
func TestPatternTranslation(t *testing.T) {
	gpt2 := gpt2Pattern(t)
	inputs := []string{"Hello, world!", "a  b", "a\n\nb", "a \n b", "end   ", " !!?'s", "\t\tx", "x\u00a0 y", "中文 😀", "'s's'S"}
	for _, c := range readGolden(t, "gpt2").Cases {
		inputs = append(inputs, c.Text)
	}
	for _, in := range inputs {
		if got, want := splitWith(gpt2, in), splitGPT2(in); !slices.Equal(got, want) {
			t.Errorf("GPT-2 pattern via regexp split %q into %q, gpt2Split into %q", in, got, want)
		}
	}
	tests := []struct {
		pattern, in string
		want        []string
	}{
		{`\p{N}{1,3}`, "12345a", []string{"123", "45", "a"}},
		{`(?i:'s|'t)|\p{L}+`, "IT'S it'S", []string{"IT", "'S", " ", "it", "'S"}},
		{`\s*[\r\n]+|\s+(?!\S)|\s+`, "a  \n  b   ", []string{"a", "  \n", " ", " ", "b", "   "}},
		{`\d+|\w+`, "٣4_y x", []string{"٣4", "_y", " ", "x"}},
		{`[^\s]+`, "a\vb c", []string{"a", "\v", "b", " ", "c"}},
	}
	for _, tc := range tests {
		pat, err := newPattern("test", "pattern", &patternJSON{Regex: &tc.pattern})
		if err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
			continue
		}
		if got := splitWith(pat, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s split %q into %q, want %q", tc.pattern, tc.in, got, tc.want)
		}
	}
}

// gpt2Pattern compiles GPT-2's pre-tokenization pattern as tokenizer.json
// writes it.
func gpt2Pattern(t testing.TB) *pattern {
	expr := `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	pat, err := newPattern("test", "pattern", &patternJSON{Regex: &expr})
	if err != nil {
		t.Fatal(err)
	}
	return pat
}

// splitWith returns s cut at pat's matches (the Isolated behaviour).
func splitWith(pat *pattern, s string) []string {
	var out []string
	for _, p := range splitPiece(nil, piece{text: s}, pat.spans(s), "Isolated") {
		out = append(out, p.text)
	}
	return out
}

// splitGPT2 returns s cut by gpt2Split.
func splitGPT2(s string) []string {
	var out []string
	for s != "" {
		n := gpt2Split(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// TestSplitBehaviors checks Hugging Face's SplitDelimiterBehavior on one
// input, as its own tests spell them out.
func TestSplitBehaviors(t *testing.T) {
	s := "the-final--countdown"
	tests := map[string][]string{
		"Isolated":           {"the", "-", "final", "-", "-", "countdown"},
		"Removed":            {"the", "final", "countdown"},
		"MergedWithPrevious": {"the-", "final-", "-", "countdown"},
		"MergedWithNext":     {"the", "-final", "-", "-countdown"},
		"Contiguous":         {"the", "-", "final", "--", "countdown"},
	}
	for behavior, want := range tests {
		var got []string
		for _, p := range splitPiece(nil, piece{text: s}, literalMatches(s, "-"), behavior) {
			got = append(got, p.text)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", behavior, got, want)
		}
	}
}

// TestGraphemeLen checks the grapheme clusters Precompiled cuts text into.
func TestGraphemeLen(t *testing.T) {
	tests := []struct{ in, first string }{
		{"\r\nx", "\r\n"},
		{"\n\rx", "\n"},
		{"e\u0301\u0302x", "e\u0301\u0302"},
		{"a\u200db", "a\u200d"},
		{"\u0600\u0661x", "\u0600\u0661"},
		{"\u1100\u1161\u11a8x", "\u1100\u1161\u11a8"},
		{"\u00ad\u0301", "\u00ad"},
		{"กำx", "กำ"},
		{"\xffx", "\xff"},
	}
	for _, tc := range tests {
		if n := graphemeLen(tc.in); tc.in[:n] != tc.first {
			t.Errorf("graphemeLen(%q) cuts %q, want %q", tc.in, tc.in[:n], tc.first)
		}
	}
}

// TestPipelineStreamDecoder streams the hard strings' ids of the three
// small tokenizer.json files, as TestStreamDecoder does for the others.
func TestPipelineStreamDecoder(t *testing.T) {
	assets.Require(t, assets.TinyShakespeare)
	for _, name := range []string{"hf-unigram", "hf-llama2", "hf-llama3"} {
		tok := load(t, filepath.Join("testdata", name+".json"))
		for _, c := range readGolden(t, name).Cases {
			if c.Line != nil && *c.Line > 50 {
				continue
			}
			streamMatchesDecode(t, name, c.name(), tok, tok.Encode(c.Text))
		}
	}
}

// TestMaxInputCharsZero: max_input_chars_per_word 0 makes every word
// [UNK], as in Hugging Face's tokenizers (0.23: [101, 100, 100, 100, 100,
// 102] for this text), where it used to be read as the default 100.
func TestMaxInputCharsZero(t *testing.T) {
	var tj map[string]any
	data, err := os.ReadFile(assets.Require(t, assets.BERTTokenizer))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		t.Fatal(err)
	}
	tj["model"].(map[string]any)["max_input_chars_per_word"] = 0
	data, _ = json.Marshal(tj)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "tokenizer.json"), data)
	if got := load(t, dir).Encode("Hello world, a"); !slices.Equal(got, []int32{101, 100, 100, 100, 100, 102}) {
		t.Errorf("ids %v, want every word [UNK] (100)", got)
	}
}

// TestAddedTokensDecoderIDs: tokenizer_config.json's added_tokens_decoder
// keys must be token ids of 32 bits.
func TestAddedTokensDecoderIDs(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "tokenizer.json"), []byte(bpeJSON("null", `[["a", "b"]]`)))
	write(t, filepath.Join(dir, "tokenizer_config.json"), []byte(`{"added_tokens_decoder": {"1099511627776": {"content": "<big>", "special": true}}}`))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "added_tokens_decoder") || !strings.Contains(err.Error(), "1099511627776") {
		t.Errorf("err = %v, want one naming added_tokens_decoder and the key", err)
	}
}
