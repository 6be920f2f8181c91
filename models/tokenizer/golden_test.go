package tokenizer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// golden is one file of testdata/*.golden.json, written by
// scripts/reference (see its README): the ids an independent reference
// implementation gives for each input.
type golden struct {
	Reference string `json:"reference"`
	Tokenizer string `json:"tokenizer"`
	// Overrides replace top-level fields of Tokenizer's file, and for
	// "model" the model's fields (the pipeline variants).
	Overrides map[string]json.RawMessage `json:"overrides"`
	// VocabSize is the reference's vocabulary size, added tokens included.
	VocabSize int `json:"vocab_size"`
	Corpus    struct {
		File   string `json:"file"`
		SHA256 string `json:"sha256"`
	} `json:"corpus"`
	Cases []goldenCase `json:"cases"`
	// Decodes are id sequences to decode, not from an encoding (Text empty).
	Decodes []goldenCase `json:"decodes"`
	Pairs   []struct {
		A       string  `json:"a"`
		B       string  `json:"b"`
		IDs     []int32 `json:"ids"`
		TypeIDs []int32 `json:"type_ids"`
	} `json:"pairs"`
}

type goldenCase struct {
	Line    *int    `json:"line"`  // a line of the corpus …
	Lines   []int32 `json:"lines"` // … or lines [a, b) joined with "\n" …
	Text    string  `json:"text"`  // … or this text
	IDs     []int32 `json:"ids"`
	Decoded string  `json:"decoded"`
	// DecodedWithSpecial is Decode without skipping special tokens, where
	// it differs from Decoded.
	DecodedWithSpecial *string `json:"decoded_with_special"`
}

// readGolden reads testdata/name.golden.json and fills in the corpus texts
// from the Tiny Shakespeare asset (the goldens hold only line numbers).
func readGolden(t *testing.T, name string) *golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := &golden{}
	if err := json.Unmarshal(data, g); err != nil {
		t.Fatalf("testdata/%s.golden.json: %v", name, err)
	}
	corpus, err := os.ReadFile(assets.Require(t, assets.TinyShakespeare))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(corpus); hex.EncodeToString(sum[:]) != g.Corpus.SHA256 {
		t.Fatalf("%s: sha256 %x differs from the %s the golden was made from", assets.TinyShakespeare, sum, g.Corpus.SHA256)
	}
	lines := strings.Split(string(corpus), "\n")
	for i := range g.Cases {
		c := &g.Cases[i]
		switch {
		case c.Line != nil:
			c.Text = lines[*c.Line]
		case len(c.Lines) == 2:
			c.Text = strings.Join(lines[c.Lines[0]:c.Lines[1]], "\n")
		}
	}
	return g
}

// name describes a case for failure messages.
func (c *goldenCase) name() string {
	switch {
	case c.Line != nil:
		return fmt.Sprintf("corpus line %d %q", *c.Line, c.Text)
	case len(c.Lines) == 2:
		return fmt.Sprintf("corpus lines %d-%d joined (%d bytes)", c.Lines[0], c.Lines[1], len(c.Text))
	}
	return fmt.Sprintf("%q", c.Text)
}

// mismatches counts and reports id mismatches, printing the first few in
// full: the input, the first differing position and both id sequences.
type mismatches struct {
	t       *testing.T
	what    string
	n, seen int
}

func (m *mismatches) check(input string, got, want []int32) {
	m.seen++
	if slices.Equal(got, want) {
		return
	}
	m.n++
	if m.n > 5 {
		return
	}
	pos := 0
	for pos < len(got) && pos < len(want) && got[pos] == want[pos] {
		pos++
	}
	m.t.Errorf("%s: %s: first difference at position %d\n got: %v\nwant: %v", m.what, input, pos, clip(got), clip(want))
}

func (m *mismatches) done() {
	if m.n > 0 {
		m.t.Errorf("%s: %d of %d inputs differ from the reference", m.what, m.n, m.seen)
	} else {
		m.t.Logf("%s: %d inputs match the reference id for id", m.what, m.seen)
	}
}

func clip(ids []int32) string {
	if len(ids) > 60 {
		return fmt.Sprintf("%v … (%d ids)", ids[:60], len(ids))
	}
	return fmt.Sprint(ids)
}

func load(t *testing.T, path string) *Tokenizer {
	t.Helper()
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// gpt2Folders returns the GPT-2 tokenizer in its three spellings: the
// original encoder.json + vocab.bpe, vocab.json + merges.txt (the same
// files renamed, as Hugging Face ships them), and a tokenizer.json built
// from them (ByteLevel pre-tokenizer, BPE model).
func gpt2Folders(t *testing.T) map[string]string {
	encoder := assets.Require(t, assets.GPT2Encoder)
	bpe := assets.Require(t, assets.GPT2VocabBPE)
	vocabJSON, err := os.ReadFile(encoder)
	if err != nil {
		t.Fatal(err)
	}
	merges, err := os.ReadFile(bpe)
	if err != nil {
		t.Fatal(err)
	}
	hf := t.TempDir()
	write(t, filepath.Join(hf, "vocab.json"), vocabJSON)
	write(t, filepath.Join(hf, "merges.txt"), merges)

	var vocab map[string]int
	if err := json.Unmarshal(vocabJSON, &vocab); err != nil {
		t.Fatal(err)
	}
	var mergeList []string
	for _, l := range strings.Split(strings.TrimSpace(string(merges)), "\n")[1:] {
		mergeList = append(mergeList, l)
	}
	tj, err := json.Marshal(map[string]any{
		"version":        "1.0",
		"added_tokens":   []any{map[string]any{"id": 50256, "content": "<|endoftext|>", "special": true}},
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": mergeList},
	})
	if err != nil {
		t.Fatal(err)
	}
	tjDir := t.TempDir()
	write(t, filepath.Join(tjDir, "tokenizer.json"), tj)
	return map[string]string{
		"encoder.json+vocab.bpe": filepath.Dir(encoder),
		"vocab.json+merges.txt":  hf,
		"tokenizer.json":         tjDir,
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGPT2MatchesTiktoken checks GPT-2's byte-level BPE, in all three file
// spellings, against tiktoken's "gpt2" encoding, and that decoding gives
// the input back byte for byte.
func TestGPT2MatchesTiktoken(t *testing.T) {
	g := readGolden(t, "gpt2")
	for spelling, dir := range gpt2Folders(t) {
		t.Run(spelling, func(t *testing.T) {
			tok := load(t, dir)
			ids := &mismatches{t: t, what: "GPT-2 (" + spelling + ") vs " + g.Reference}
			for _, c := range g.Cases {
				got := tok.Encode(c.Text)
				ids.check(c.name(), got, c.IDs)
				if d := tok.Decode(c.IDs, false); d != c.Text || d != c.Decoded {
					t.Errorf("Decode(Encode(%s)) = %q, want the input back", c.name(), d)
				}
			}
			ids.done()
			if tok.VocabSize() != 50257 || tok.Special.EOS != 50256 || tok.Special.PAD != -1 {
				t.Errorf("VocabSize %d, EOS %d, PAD %d; want 50257, 50256, -1", tok.VocabSize(), tok.Special.EOS, tok.Special.PAD)
			}
		})
	}
}

// bertFolders returns BERT's tokenizer.json and a vocab.txt written from its
// vocabulary (so that the vocab.txt path meets the same golden).
func bertFolders(t *testing.T) map[string]string {
	file := assets.Require(t, assets.BERTTokenizer)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		t.Fatal(err)
	}
	lines := make([]string, len(tj.Model.Vocab))
	for tok, id := range tj.Model.Vocab {
		lines[id] = tok
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "vocab.txt"), []byte(strings.Join(lines, "\n")+"\n"))
	return map[string]string{"tokenizer.json": filepath.Dir(file), "vocab.txt": dir}
}

// TestBERTMatchesHuggingFace checks bert-base-uncased, from tokenizer.json
// and from vocab.txt, against Hugging Face's Rust tokenizers (which the
// golden script cross-checks with tokenizers.js): ids with [CLS] … [SEP],
// Decode skipping special tokens, and sentence pairs with token type ids.
func TestBERTMatchesHuggingFace(t *testing.T) {
	g := readGolden(t, "bert-base-uncased")
	for spelling, dir := range bertFolders(t) {
		t.Run(spelling, func(t *testing.T) {
			tok := load(t, dir)
			ids := &mismatches{t: t, what: "BERT (" + spelling + ") vs " + g.Reference}
			decodes := 0
			for _, c := range g.Cases {
				ids.check(c.name(), tok.Encode(c.Text), c.IDs)
				if d := tok.Decode(c.IDs, true); d != c.Decoded {
					if decodes++; decodes <= 5 {
						t.Errorf("Decode(%v, true) of %s = %q, reference %q", clip(c.IDs), c.name(), d, c.Decoded)
					}
				}
			}
			ids.done()
			if decodes > 0 {
				t.Errorf("%d decodes differ from the reference", decodes)
			}
			pairs := &mismatches{t: t, what: "BERT pairs (" + spelling + ")"}
			types := &mismatches{t: t, what: "BERT pair token type ids (" + spelling + ")"}
			for _, p := range g.Pairs {
				got, gotTypes := tok.EncodePair(p.A, p.B, EncodeOptions{})
				pairs.check(fmt.Sprintf("(%q, %q)", p.A, p.B), got, p.IDs)
				types.check(fmt.Sprintf("(%q, %q)", p.A, p.B), gotTypes, p.TypeIDs)
			}
			pairs.done()
			types.done()
			want := SpecialTokens{BOS: -1, EOS: -1, PAD: 0, UNK: 100, CLS: 101, SEP: 102, MASK: 103}
			if tok.Special != want || tok.VocabSize() != 30522 {
				t.Errorf("Special = %+v, VocabSize %d; want %+v, 30522", tok.Special, tok.VocabSize(), want)
			}
		})
	}
}

// TestSentencePieceMatchesSentencePiece checks LLaMA 2's tokenizer.model and
// three small models trained for the test (Unigram, BPE with byte fallback
// and user-defined symbols, Unigram with nmt_nfkc normalization) against
// Google's sentencepiece. The golden holds sp.encode(text), without BOS;
// Encode puts BOS (id 1) first, as Hugging Face's LlamaTokenizer does
// (add_bos_token), and EncodeWith(NoSpecialTokens) must equal the golden.
func TestSentencePieceMatchesSentencePiece(t *testing.T) {
	models := map[string]string{
		"llama2":     assets.Require(t, assets.Llama2Tokenizer),
		"sp-unigram": filepath.Join("testdata", "sp-unigram.model"),
		"sp-bpe":     filepath.Join("testdata", "sp-bpe.model"),
		"sp-nfkc":    filepath.Join("testdata", "sp-nfkc.model"),
	}
	for name, file := range models {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, name)
			tok := load(t, file)
			plain := &mismatches{t: t, what: name + " vs " + g.Reference}
			withBOS := &mismatches{t: t, what: name + " Encode (BOS first)"}
			decodes := 0
			for _, c := range g.Cases {
				plain.check(c.name(), tok.EncodeWith(c.Text, EncodeOptions{NoSpecialTokens: true}), c.IDs)
				withBOS.check(c.name(), tok.Encode(c.Text), append([]int32{1}, c.IDs...))
				if d := tok.Decode(c.IDs, true); d != c.Decoded {
					if decodes++; decodes <= 5 {
						t.Errorf("Decode(%v) of %s = %q, sentencepiece %q", clip(c.IDs), c.name(), d, c.Decoded)
					}
				}
			}
			plain.done()
			withBOS.done()
			if decodes > 0 {
				t.Errorf("%d decodes differ from sentencepiece", decodes)
			}
		})
	}
}

// TestSentencePieceRoundTrip checks Decode(Encode(x)) == x for LLaMA 2 on
// every golden input. The known leading-space rule — Decode drops the
// dummy-prefix "▁" the normalizer put before the text, and only that one —
// keeps text that starts with spaces intact; BOS is skipped as a special
// token. (Models that fold whitespace, like the small trained ones, cannot
// round-trip runs of spaces by design.)
func TestSentencePieceRoundTrip(t *testing.T) {
	tok := load(t, assets.Require(t, assets.Llama2Tokenizer))
	g := readGolden(t, "llama2")
	for _, c := range g.Cases {
		if got := tok.Decode(tok.Encode(c.Text), true); got != c.Text {
			t.Errorf("Decode(Encode(%s)) = %q", c.name(), got)
		}
	}
}

// pipelineGoldens are the goldens of tokenizer.json files that the pipeline
// runs: three small files built by scripts/reference/tokenizers_build.mjs
// and variants of them with another normalizer, pre-tokenizer or decoder.
var pipelineGoldens = []string{
	"hf-unigram", "hf-llama2", "hf-llama3",
	"hf-unigram-t5", "hf-unigram-albert", "hf-unigram-nmt", "hf-unigram-nfd", "hf-mistral", "hf-llama2-unk",
	"hf-gpt4o-split", "hf-gpt2-split", "hf-llama3-merges",
}

// pipelineFile returns the tokenizer.json a pipeline golden was made from:
// its file in testdata, with the golden's overrides written over it.
func pipelineFile(t *testing.T, g *golden) string {
	t.Helper()
	file := filepath.Join("testdata", filepath.Base(g.Tokenizer))
	if len(g.Overrides) == 0 {
		return file
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for k, v := range g.Overrides {
		if k == "model" {
			var model, fields map[string]json.RawMessage
			if err := json.Unmarshal(doc[k], &model); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(v, &fields); err != nil {
				t.Fatal(err)
			}
			maps.Copy(model, fields)
			if v, err = json.Marshal(model); err != nil {
				t.Fatal(err)
			}
		}
		doc[k] = v
	}
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tokenizer.json")
	write(t, out, data)
	return out
}

// TestPipelinesMatchHuggingFace checks the tokenizer.json pipelines —
// Unigram (T5, ALBERT and NMT normalizers), SentencePiece-style BPE with
// byte fallback (LLaMA 2, Mistral) and byte-level BPE with other split
// patterns (Llama 3, GPT-4o, GPT-2's as a Split) — against Hugging Face's
// Rust tokenizers: ids with the post-processor's special tokens, Decode
// with and without special tokens (of the encodings and of random id
// sequences), and sentence pairs.
func TestPipelinesMatchHuggingFace(t *testing.T) {
	for _, name := range pipelineGoldens {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, name)
			tok := load(t, pipelineFile(t, g))
			if _, ok := tok.model.(*pipeline); !ok {
				t.Fatalf("%s runs through %T, want this package's pipeline", name, tok.model)
			}
			if tok.VocabSize() != g.VocabSize {
				t.Errorf("VocabSize() = %d, reference %d", tok.VocabSize(), g.VocabSize)
			}
			ids := &mismatches{t: t, what: name + " vs " + g.Reference}
			for _, c := range g.Cases {
				ids.check(c.name(), tok.Encode(c.Text), c.IDs)
			}
			ids.done()
			decodes := 0
			for _, c := range append(g.Cases, g.Decodes...) {
				withSpecial := c.Decoded
				if c.DecodedWithSpecial != nil {
					withSpecial = *c.DecodedWithSpecial
				}
				for _, d := range []struct {
					skip bool
					want string
				}{{true, c.Decoded}, {false, withSpecial}} {
					if got := tok.Decode(c.IDs, d.skip); got != d.want {
						if decodes++; decodes <= 5 {
							t.Errorf("Decode(%v, %v) of %s = %q, reference %q", clip(c.IDs), d.skip, c.name(), got, d.want)
						}
					}
				}
			}
			if decodes > 0 {
				t.Errorf("%d of %d decodes differ from the reference", decodes, 2*(len(g.Cases)+len(g.Decodes)))
			}
			pairs := &mismatches{t: t, what: name + " pairs"}
			types := &mismatches{t: t, what: name + " pair token type ids"}
			for _, p := range g.Pairs {
				got, gotTypes := tok.EncodePair(p.A, p.B, EncodeOptions{})
				pairs.check(fmt.Sprintf("(%q, %q)", p.A, p.B), got, p.IDs)
				types.check(fmt.Sprintf("(%q, %q)", p.A, p.B), gotTypes, p.TypeIDs)
			}
			if len(g.Pairs) > 0 {
				pairs.done()
				types.done()
			}
		})
	}
}
