package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

func init() {
	robustGroups = append(robustGroups, ggufSentencePieceCases, gemma3GGUFCases)
	robustTimeLimits["GGUF SentencePiece tokenizer: 16 pieces of a megabyte"] = time.Minute
}

// ggufSentencePieceCases are GGUF files whose SentencePiece tokenizer
// (tokenizer.ggml.model "llama", LLaMA 2's pieces) has a field missing, of
// the wrong size or type, or pieces so long that deriving the merges from
// them would take minutes (hours for larger ones).
func ggufSentencePieceCases(t *testing.T, env robustEnv) []robustCase {
	generate := func(tok string) []string {
		return []string{"generate", "--model", env.stories, "--tokenizer", tok, "--prompt", "hi", "--max-new-tokens", "2"}
	}
	edited := func(edit func(meta []weights.GGUFKV) []weights.GGUFKV) func(t *testing.T, dir string) []string {
		return func(t *testing.T, dir string) []string {
			return generate(ggufSentencePieceFile(t, dir, edit))
		}
	}
	return []robustCase{
		{"GGUF SentencePiece tokenizer without scores", edited(func(meta []weights.GGUFKV) []weights.GGUFKV {
			return slices.DeleteFunc(meta, func(kv weights.GGUFKV) bool { return kv.Key == "tokenizer.ggml.scores" })
		}), []string{"tok.gguf", `"tokenizer.ggml.scores" is not 32000 float32 values`}},
		{"GGUF SentencePiece tokenizer: token types of the wrong length", edited(func(meta []weights.GGUFKV) []weights.GGUFKV {
			return ggufSet(meta, "tokenizer.ggml.token_type", []int32{1, 2, 3})
		}), []string{"tok.gguf", `"tokenizer.ggml.token_type" is not 32000 int32 values`}},
		{"GGUF SentencePiece tokenizer: add_bos_token a string", edited(func(meta []weights.GGUFKV) []weights.GGUFKV {
			return ggufSet(meta, "tokenizer.ggml.add_bos_token", "yes")
		}), []string{"tok.gguf", `"tokenizer.ggml.add_bos_token" is not a bool`}},
		{"GGUF SentencePiece tokenizer: 16 pieces of a megabyte", edited(func(meta []weights.GGUFKV) []weights.GGUFKV {
			var tokens []string
			for _, kv := range meta {
				if kv.Key == "tokenizer.ggml.tokens" {
					tokens = slices.Clone(kv.Value.([]string))
				}
			}
			for i := 31984; i < 32000; i++ { // each takes seconds
				tokens[i] = strings.Repeat(string(rune('a'+i%16)), 1<<20)
			}
			return ggufSet(meta, "tokenizer.ggml.tokens", tokens)
		}), []string{"tok.gguf", "token 31984 is 1048576 bytes", "too long to derive merges from"}},
	}
}

// ggufSentencePieceFile writes dir/tok.gguf: LLaMA 2's tokenizer.model as
// the tokenizer.ggml.* entries of a GGUF file of architecture "llama",
// changed by edit.
func ggufSentencePieceFile(t *testing.T, dir string, edit func([]weights.GGUFKV) []weights.GGUFKV) string {
	t.Helper()
	tok, err := tokenizer.Load(assets.Require(t, assets.Llama2Tokenizer))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := tok.GGUFMetadata()
	if err != nil {
		t.Fatal(err)
	}
	meta = edit(append([]weights.GGUFKV{{Key: "general.architecture", Value: "llama"}}, meta...))
	path := filepath.Join(dir, "tok.gguf")
	if err := weights.WriteGGUF(path, meta, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// ggufSet returns meta with key's value replaced.
func ggufSet(meta []weights.GGUFKV, key string, value any) []weights.GGUFKV {
	return weights.WithGGUFKV(meta, weights.GGUFKV{Key: key, Value: value})
}

// gemma3GGUFCases are GGUF files of architecture "gemma3" (a tiny random
// Gemma 3) with a metadata key or a tensor missing, or another
// architecture's name: each is an error naming the key, the tensor or the
// architectures that are read. The whole file generates.
func gemma3GGUFCases(t *testing.T, env robustEnv) []robustCase {
	file := func(edit func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor)) func(t *testing.T, dir string) []string {
		return func(t *testing.T, dir string) []string {
			meta, ts := edit(tinyGemma3GGUF())
			return []string{"generate", "--model", writeTestGGUF(t, dir, meta, ts), "--max-new-tokens", "3"}
		}
	}
	cases := []robustCase{
		{"GGUF gemma3: the whole file", file(func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return meta, ts
		}), nil},
		{"GGUF gemma3: an unknown architecture", file(func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return ggufSet(meta, "general.architecture", "gemma9"), ts
		}), []string{"m.gguf", `general.architecture "gemma9" is not supported`, "gemma3", "llama"}},
		{"GGUF gemma3: value_length other than key_length", file(func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return ggufSet(meta, "gemma3.attention.value_length", uint32(8)), ts
		}), []string{"m.gguf", `"gemma3.attention.value_length" is 8`}},
		{"GGUF gemma3: without blk.1.attn_q_norm.weight", file(func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return meta, slices.DeleteFunc(ts, func(t weights.GGUFTensor) bool { return t.Name == "blk.1.attn_q_norm.weight" })
		}), []string{"m.gguf", `tensor "blk.1.attn_q_norm.weight"`, "missing"}},
		{"GGUF gemma3: block_count 1 of 2", file(func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return ggufSet(meta, "gemma3.block_count", uint32(1)), ts
		}), []string{"m.gguf", "13 tensors the config does not use", `"blk.1.attn_k.weight"`, "gemma3.block_count is 1"}},
	}
	for _, key := range []string{"block_count", "embedding_length", "feed_forward_length", "context_length", "attention.head_count",
		"attention.head_count_kv", "attention.key_length", "attention.sliding_window", "attention.layer_norm_rms_epsilon"} {
		key = "gemma3." + key
		cases = append(cases, robustCase{"GGUF gemma3: without " + key, file(func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return slices.DeleteFunc(meta, func(kv weights.GGUFKV) bool { return kv.Key == key }), ts
		}), []string{"m.gguf", fmt.Sprintf("metadata key %q missing", key)}})
	}
	return cases
}

// tinyGemma3GGUF returns the metadata and tensors of a random two-layer
// Gemma 3 (width 32, two query heads and one key/value head of 16, window
// 4) as llama.cpp's converter names them, without a tokenizer.
func tinyGemma3GGUF() ([]weights.GGUFKV, []weights.GGUFTensor) {
	meta := []weights.GGUFKV{
		{Key: "general.architecture", Value: "gemma3"},
		{Key: "gemma3.context_length", Value: uint32(64)},
		{Key: "gemma3.embedding_length", Value: uint32(32)},
		{Key: "gemma3.block_count", Value: uint32(2)},
		{Key: "gemma3.feed_forward_length", Value: uint32(64)},
		{Key: "gemma3.attention.head_count", Value: uint32(2)},
		{Key: "gemma3.attention.head_count_kv", Value: uint32(1)},
		{Key: "gemma3.attention.key_length", Value: uint32(16)},
		{Key: "gemma3.attention.value_length", Value: uint32(16)},
		{Key: "gemma3.attention.sliding_window", Value: uint32(4)},
		{Key: "gemma3.attention.layer_norm_rms_epsilon", Value: float32(1e-6)},
		{Key: "gemma3.rope.freq_base", Value: float32(1e6)},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(2)},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(1)},
	}
	rng := rand.New(rand.NewPCG(3, 27))
	tensor := func(name string, dims ...int) weights.GGUFTensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.1)
		}
		return weights.GGUFTensor{Name: name, Type: weights.GGUFF32, Dims: dims, Values: v}
	}
	ts := []weights.GGUFTensor{tensor("token_embd.weight", 32, 32), tensor("output_norm.weight", 32)}
	for b := range 2 {
		p := fmt.Sprintf("blk.%d.", b)
		ts = append(ts, tensor(p+"attn_norm.weight", 32), tensor(p+"attn_q.weight", 32, 32), tensor(p+"attn_k.weight", 16, 32),
			tensor(p+"attn_v.weight", 16, 32), tensor(p+"attn_q_norm.weight", 16), tensor(p+"attn_k_norm.weight", 16),
			tensor(p+"attn_output.weight", 32, 32), tensor(p+"post_attention_norm.weight", 32), tensor(p+"ffn_norm.weight", 32),
			tensor(p+"ffn_gate.weight", 64, 32), tensor(p+"ffn_up.weight", 64, 32), tensor(p+"ffn_down.weight", 32, 64),
			tensor(p+"post_ffw_norm.weight", 32))
	}
	return meta, ts
}
