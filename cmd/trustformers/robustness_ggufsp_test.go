package main

import (
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
	robustGroups = append(robustGroups, ggufSentencePieceCases)
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
