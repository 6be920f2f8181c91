package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	goldens "github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// metaOf returns the value of key in meta.
func metaOf(t *testing.T, meta []weights.GGUFKV, key string) any {
	t.Helper()
	for _, kv := range meta {
		if kv.Key == key {
			return kv.Value
		}
	}
	t.Fatalf("metadata %q missing", key)
	return nil
}

// TestGGUFMetadataGPT2 checks GPT-2's vocabulary as llama.cpp's converter
// writes it: 50,257 tokens in byte-level spelling, the 50,000 merges in
// rank order, <|endoftext|> a control token and BOS/EOS. (llama.cpp's
// tokenization of our exports is checked in internal/interop.)
func TestGGUFMetadataGPT2(t *testing.T) {
	tok := load(t, filepath.Dir(assets.Require(t, assets.GPT2Encoder)))
	meta, err := tok.GGUFMetadata()
	if err != nil {
		t.Fatal(err)
	}
	tokens := metaOf(t, meta, "tokenizer.ggml.tokens").([]string)
	merges := metaOf(t, meta, "tokenizer.ggml.merges").([]string)
	types := metaOf(t, meta, "tokenizer.ggml.token_type").([]int32)
	if metaOf(t, meta, "tokenizer.ggml.model") != "gpt2" || len(tokens) != 50257 || len(merges) != 50000 {
		t.Fatalf("model %v, %d tokens, %d merges; want gpt2, 50257, 50000", metaOf(t, meta, "tokenizer.ggml.model"), len(tokens), len(merges))
	}
	if tokens[0] != "!" || tokens[220] != "Ġ" || merges[0] != "Ġ t" || merges[49999] != "Ġg azed" {
		t.Errorf("tokens[0] %q, tokens[220] %q, merges[0] %q, merges[49999] %q", tokens[0], tokens[220], merges[0], merges[49999])
	}
	if types[50256] != ggufControl || types[0] != ggufNormal {
		t.Errorf("token types %d (<|endoftext|>) and %d (!), want control and normal", types[50256], types[0])
	}
	if metaOf(t, meta, "tokenizer.ggml.bos_token_id") != uint32(50256) || metaOf(t, meta, "tokenizer.ggml.add_bos_token") != false {
		t.Errorf("bos %v, add_bos %v; want 50256 and false", metaOf(t, meta, "tokenizer.ggml.bos_token_id"), metaOf(t, meta, "tokenizer.ggml.add_bos_token"))
	}
}

// TestGGUFMetadataSentencePiece checks a SentencePiece BPE's pieces, scores
// and types, and that BERT's WordPiece is refused with its format named.
func TestGGUFMetadataSentencePiece(t *testing.T) {
	tok := load(t, filepath.Join("testdata", "sp-bpe.model"))
	meta, err := tok.GGUFMetadata()
	if err != nil {
		t.Fatal(err)
	}
	tokens := metaOf(t, meta, "tokenizer.ggml.tokens").([]string)
	scores := metaOf(t, meta, "tokenizer.ggml.scores").([]float32)
	types := metaOf(t, meta, "tokenizer.ggml.token_type").([]int32)
	if len(tokens) != tok.VocabSize() || len(scores) != len(tokens) || len(types) != len(tokens) {
		t.Fatalf("%d tokens, %d scores, %d types for %d pieces", len(tokens), len(scores), len(types), tok.VocabSize())
	}
	if !slices.Equal(tokens[:3], []string{"<unk>", "<s>", "</s>"}) || !slices.Equal(types[:3], []int32{ggufUnknown, ggufControl, ggufControl}) {
		t.Errorf("first pieces %q types %v", tokens[:3], types[:3])
	}
	if i := slices.Index(tokens, "<0x41>"); i < 0 || types[i] != ggufByte {
		t.Errorf("byte piece <0x41> at %d, type %v", i, types)
	}
	if metaOf(t, meta, "tokenizer.ggml.add_bos_token") != true {
		t.Error("add_bos_token false; LlamaTokenizer adds BOS")
	}
	bert := load(t, assets.Require(t, assets.BERTTokenizer))
	if _, err := bert.GGUFMetadata(); err == nil || !strings.Contains(err.Error(), "GPT-2 byte-level BPE and SentencePiece BPE only") {
		t.Errorf("BERT WordPiece: err = %v", err)
	}
}

// TestLoadGGUFSmolLM2 reads the tokenizer inside the real SmolLM2 GGUF and
// compares it, id for id, with transformers' conversion of the same file
// (scripts/reference/real_checkpoints.py) on 200 sentences and a chat turn
// with special tokens, and checks the round trip to text.
func TestLoadGGUFSmolLM2(t *testing.T) {
	tok, err := Load(assets.RequireModel(t, assets.SmolLM2))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Format() != FormatGGUF || tok.VocabSize() != 49152 || tok.Special.EOS != 2 || tok.Special.BOS != 1 {
		t.Fatalf("format %s, %d tokens, BOS %d, EOS %d; want gguf, 49152, 1, 2", tok.Format(), tok.VocabSize(), tok.Special.BOS, tok.Special.EOS)
	}
	ref, err := weights.ReadSafetensors(filepath.Join("..", "testdata", "smollm2", "reference.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/real_checkpoints.py)", err)
	}
	text, err := os.ReadFile(filepath.Join("..", "testdata", "minilm", "sentences.txt"))
	if err != nil {
		t.Fatal(err)
	}
	texts := append(strings.Split(strings.TrimSuffix(string(text), "\n"), "\n"), "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n")
	rows := goldens.Rows(t, ref, "tokenizer.ids", "tokenizer.offsets")
	if len(rows) != len(texts) {
		t.Fatalf("%d reference rows for %d texts (regenerate with scripts/reference/real_checkpoints.py)", len(rows), len(texts))
	}
	for i, s := range texts {
		want := rows[i]
		got := tok.Encode(s)
		if !slices.Equal(got, want) {
			t.Errorf("text %d %q: ids %v, transformers %v", i+1, s, got, want)
			continue
		}
		if back := tok.Decode(got, false); back != s {
			t.Errorf("text %d: decodes to %q, want %q", i+1, back, s)
		}
	}
}

// ggufGolden is a tokenizer golden of scripts/reference/gemma3_270m.py:
// transformers' ids of each text, and its decoding of them.
type ggufGolden struct {
	Texts   []string  `json:"texts"`
	IDs     [][]int32 `json:"ids"`
	Decoded []string  `json:"decoded"`
}

// checkGGUFGolden compares tok with the golden file path, id for id and
// in decoding.
func checkGGUFGolden(t *testing.T, tok *Tokenizer, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/gemma3_270m.py)", err)
	}
	var g ggufGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.IDs) != len(g.Texts) || len(g.Decoded) != len(g.Texts) || len(g.Texts) < 200 {
		t.Fatalf("%s: %d texts, %d rows of ids, %d decodings", path, len(g.Texts), len(g.IDs), len(g.Decoded))
	}
	bad := 0
	for i, s := range g.Texts {
		got := tok.Encode(s)
		if !slices.Equal(got, g.IDs[i]) {
			if bad++; bad <= 10 {
				t.Errorf("text %d %q: ids %v, transformers %v", i+1, s, got, g.IDs[i])
			}
			continue
		}
		if back := tok.Decode(got, false); back != g.Decoded[i] {
			t.Errorf("text %d %q: decodes to %q, transformers %q", i+1, s, back, g.Decoded[i])
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d texts tokenized differently", bad, len(g.Texts))
	}
}

// TestLoadGGUFGemma3 reads the SentencePiece tokenizer inside the real
// Gemma 3 270M GGUF (tokenizer.ggml.model "llama", 262,144 pieces, merges
// derived from the pieces' order) and compares it with transformers'
// conversion of the same file (scripts/reference/gemma3_270m.py) on the 200
// sentences of models/testdata/minilm/sentences.txt and awkward strings:
// runs of spaces and newlines (user-defined pieces), byte fallback, the
// special tokens, text already holding "▁".
func TestLoadGGUFGemma3(t *testing.T) {
	tok, err := Load(assets.RequireModel(t, assets.Gemma3))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Format() != FormatGGUF || tok.VocabSize() != 262144 || tok.Special.BOS != 2 || tok.Special.EOS != 1 ||
		tok.Special.UNK != 3 || tok.Special.PAD != 0 {
		t.Fatalf("format %s, %d tokens, BOS %d, EOS %d, UNK %d, PAD %d; want gguf, 262144, 2, 1, 3, 0",
			tok.Format(), tok.VocabSize(), tok.Special.BOS, tok.Special.EOS, tok.Special.UNK, tok.Special.PAD)
	}
	checkGGUFGolden(t, tok, filepath.Join("..", "testdata", "gemma3-270m", "tokenizer_ids.json"))
}

// TestLoadGGUFLlama2 writes LLaMA 2's tokenizer.model as a GGUF file of
// architecture "llama" (GGUFMetadata's entries, as llama.cpp's converter
// writes them) and reads it back with LoadGGUF: the LlamaTokenizer shape
// (Metaspace, a prefix space on the first word only, merges ranked by the
// pieces' scores), compared with transformers' reading of the same entries.
func TestLoadGGUFLlama2(t *testing.T) {
	sp := load(t, assets.Require(t, assets.Llama2Tokenizer))
	meta, err := sp.GGUFMetadata()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "llama2-tokenizer.gguf")
	meta = append([]weights.GGUFKV{{Key: "general.architecture", Value: "llama"}}, meta...)
	if err := weights.WriteGGUF(path, meta, nil); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 32000 || tok.Special.BOS != 1 || tok.Special.EOS != 2 || tok.Special.UNK != 0 {
		t.Fatalf("%d tokens, BOS %d, EOS %d, UNK %d; want 32000, 1, 2, 0", tok.VocabSize(), tok.Special.BOS, tok.Special.EOS, tok.Special.UNK)
	}
	checkGGUFGolden(t, tok, filepath.Join("testdata", "llama2_gguf.golden.json"))
}
