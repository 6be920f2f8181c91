package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

func init() { robustGroups = append(robustGroups, ggufArchCases) }

// ggufArchCases are the tiny Qwen2, Qwen3 and Phi-3 GGUF files of
// scripts/reference/gguf_families.py (llama.cpp's names and keys, a
// tokenizer inside), whole (they generate) or with a metadata key, a
// tensor or the architecture changed: each an error naming what is wrong.
func ggufArchCases(t *testing.T, env robustEnv) []robustCase {
	file := func(family string, edit func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor)) func(t *testing.T, dir string) []string {
		return func(t *testing.T, dir string) []string {
			meta, ts := edit(readTestGGUF(t, filepath.Join(golden.Dir(family), "model.gguf")))
			return []string{"generate", "--model", writeTestGGUF(t, dir, meta, ts), "--prompt", "the cat", "--max-new-tokens", "3"}
		}
	}
	same := func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
		return meta, ts
	}
	drop := func(name string) func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
		return func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return slices.DeleteFunc(meta, func(kv weights.GGUFKV) bool { return kv.Key == name }),
				slices.DeleteFunc(ts, func(t weights.GGUFTensor) bool { return t.Name == name })
		}
	}
	return []robustCase{
		{"GGUF qwen2: the whole file", file("qwen2", same), nil},
		{"GGUF qwen3: the whole file", file("qwen3", same), nil},
		{"GGUF phi3: the whole longrope file", file("phi3/longrope", same), nil},
		{"GGUF qwen3: an unknown architecture", file("qwen3", func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return ggufSet(meta, "general.architecture", "qwen9"), ts
		}), []string{"m.gguf", `general.architecture "qwen9" is not supported`, "phi3", "qwen2", "qwen3"}},
		{"GGUF qwen2: without qwen2.block_count", file("qwen2", drop("qwen2.block_count")), []string{"m.gguf", `metadata key "qwen2.block_count" missing`}},
		{"GGUF qwen2: without blk.0.attn_v.bias", file("qwen2", drop("blk.0.attn_v.bias")), []string{"m.gguf", `tensor "blk.0.attn_v.bias"`, "missing"}},
		{"GGUF phi3: without phi3.attention.head_count", file("phi3/base", drop("phi3.attention.head_count")),
			[]string{"m.gguf", `metadata key "phi3.attention.head_count" missing`}},
		{"GGUF phi3: without blk.1.ffn_up.weight", file("phi3/base", drop("blk.1.ffn_up.weight")), []string{"m.gguf", `tensor "blk.1.ffn_up.weight"`, "missing"}},
		{"GGUF phi3: only the long rope factors", file("phi3/longrope", drop("rope_factors_short.weight")),
			[]string{"m.gguf", `"rope_factors_long.weight" and "rope_factors_short.weight" come together`}},
	}
}

// readTestGGUF returns the metadata and the tensors (as float32) of the
// GGUF file path.
func readTestGGUF(t *testing.T, path string) ([]weights.GGUFKV, []weights.GGUFTensor) {
	t.Helper()
	set, info, err := weights.ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	var ts []weights.GGUFTensor
	for _, ti := range info.Tensors {
		values, err := set.Float32Values(ti.Name, ti.Dims...)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, weights.GGUFTensor{Name: ti.Name, Type: weights.GGUFF32, Dims: ti.Dims, Values: values})
	}
	return slices.DeleteFunc(slices.Clone(info.Metadata), func(kv weights.GGUFKV) bool { return kv.Key == "general.alignment" }), ts
}
