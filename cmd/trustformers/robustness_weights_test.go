package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	hfgguf "github.com/gomlx/go-huggingface/models/gguf"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

func init() { robustGroups = append(robustGroups, weightsCases) }

// weightsCases are hostile GGUF files (forged layouts, tensors the config
// does not use, bad metadata), NaN in weights and configs, and generation
// flags out of range.
func weightsCases(t *testing.T, env robustEnv) []robustCase {
	gguf := func(name string) string { return fmt.Sprintf("tensor %q", name) }
	return []robustCase{
		{"GGUF: a thousand unused tensors on one 8 MiB offset", func(t *testing.T, dir string) []string {
			// The file is 8 MB; read whole, its tensors would take 8 GB.
			meta, ts := tinyLlamaGGUF(1)
			ts = append(ts, weights.GGUFTensor{Name: "big", Type: weights.GGUFF32, Dims: []int{2 << 20}, Values: make([]float32, 2<<20)})
			for i := range 999 {
				ts = append(ts, weights.GGUFTensor{Name: fmt.Sprintf("junk.%d", i), Type: weights.GGUFF32, Dims: []int{8}, Values: make([]float32, 8)})
			}
			path := writeTestGGUF(t, dir, meta, ts)
			f := forgeGGUF(t, path)
			bigAt := f.tensor("big").offset()
			for i := range 999 {
				at := f.tensor(fmt.Sprintf("junk.%d", i))
				at.setDim(0, 2<<20)
				at.setOffset(bigAt)
			}
			f.save()
			return []string{"generate", "--model", path}
		}, []string{"m.gguf", "overlapping"}},
		{"GGUF: overlapping tensors", func(t *testing.T, dir string) []string {
			path := tinyLlamaFile(t, dir)
			f := forgeGGUF(t, path)
			f.tensor("blk.0.attn_k.weight").setOffset(f.tensor("blk.0.attn_q.weight").offset())
			f.save()
			return []string{"generate", "--model", path}
		}, []string{"m.gguf", "overlapping"}},
		{"GGUF: unaligned offset", func(t *testing.T, dir string) []string {
			path := tinyLlamaFile(t, dir)
			f := forgeGGUF(t, path)
			at := f.tensor("blk.0.attn_v.weight")
			at.setOffset(at.offset() + 4)
			f.save()
			return []string{"generate", "--model", path}
		}, []string{"m.gguf", gguf("blk.0.attn_v.weight"), "not a multiple of the alignment 32"}},
		{"GGUF: Q4_1 data declared Q4_0", func(t *testing.T, dir string) []string {
			meta, ts := tinyLlamaGGUF(1)
			i := slices.IndexFunc(ts, func(x weights.GGUFTensor) bool { return x.Name == "blk.0.ffn_gate.weight" })
			raw := make([]byte, 64*32/32*20) // [64, 32] in Q4_1 blocks of 20 bytes
			for j := range raw {
				raw[j] = byte(j * 37)
			}
			ts[i] = weights.GGUFTensor{Name: ts[i].Name, Type: hfgguf.TensorTypeQ4_1, Dims: ts[i].Dims, Raw: raw}
			path := writeTestGGUF(t, dir, meta, ts)
			f := forgeGGUF(t, path)
			f.tensor("blk.0.ffn_gate.weight").setType(weights.GGUFQ4_0)
			f.save()
			return []string{"generate", "--model", path}
		}, []string{"m.gguf", gguf("blk.0.ffn_gate.weight"), "is Q4_0 its data's type?"}},
		{"GGUF: block_count below the file's blocks", func(t *testing.T, dir string) []string {
			meta, ts := tinyLlamaGGUF(2)
			return []string{"generate", "--model", writeTestGGUF(t, dir, weights.WithGGUFKV(meta, weights.GGUFKV{Key: "llama.block_count", Value: uint32(1)}), ts)}
		}, []string{"m.gguf", "9 tensors the config does not use", `"blk.1.attn_k.weight"`}},
		{"GGUF: SmolLM2 with block_count 29 of its 30 blocks", func(t *testing.T, dir string) []string {
			path := filepath.Join(dir, "smollm2.gguf")
			copyFile(t, assets.RequireModel(t, assets.SmolLM2), path)
			patchGGUFKeyUint32(t, path, "llama.block_count", 29)
			return []string{"generate", "--model", path, "--prompt", "Hello"}
		}, []string{"smollm2.gguf", "9 tensors the config does not use", `"blk.29.attn_k.weight"`, "llama.block_count is 29"}},
		{"GGUF: an unknown blk tensor", func(t *testing.T, dir string) []string {
			meta, ts := tinyLlamaGGUF(1)
			ts = append(ts, weights.GGUFTensor{Name: "blk.0.ffn_gate_inp.weight", Type: weights.GGUFF32, Dims: []int{4, 32}, Values: make([]float32, 128)})
			return []string{"generate", "--model", writeTestGGUF(t, dir, meta, ts)}
		}, []string{"m.gguf", "tensors the config does not use", `"blk.0.ffn_gate_inp.weight"`}},
		{"GGUF: huge general.alignment", func(t *testing.T, dir string) []string {
			path := tinyLlamaFile(t, dir)
			patchGGUFKeyUint32(t, path, "general.alignment", 1<<31)
			return []string{"generate", "--model", path}
		}, []string{"m.gguf", `metadata key "general.alignment" is 2147483648`}},
		{"GGUF: NaN rope scaling factor", func(t *testing.T, dir string) []string {
			meta, ts := tinyLlamaGGUF(1)
			meta = weights.WithGGUFKV(meta, weights.GGUFKV{Key: "llama.rope.scaling.type", Value: "linear"},
				weights.GGUFKV{Key: "llama.rope.scaling.factor", Value: float32(math.NaN())})
			return []string{"generate", "--model", writeTestGGUF(t, dir, meta, ts)}
		}, []string{"m.gguf", `metadata key "llama.rope.scaling.factor" is NaN`}},
		{"GGUF: a NaN weight", func(t *testing.T, dir string) []string {
			meta, ts := tinyLlamaGGUF(1)
			ts[0].Values[77] = float32(math.NaN())
			return []string{"generate", "--model", writeTestGGUF(t, dir, meta, ts)}
		}, []string{"m.gguf", gguf("token_embd.weight"), "value 77 (of 1024) is NaN"}},
		{"safetensors: an infinite weight", func(t *testing.T, dir string) []string {
			m := filepath.Join(dir, "m")
			copyFile(t, filepath.Join(env.gpt2Dir, "config.json"), filepath.Join(m, "config.json"))
			set, err := weights.ReadSafetensors(filepath.Join(env.gpt2Dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			x, _ := set.Get("transformer.h.1.mlp.c_fc.weight")
			values := tensors.MustCopyFlatData[float32](x)
			values[5] = float32(math.Inf(1))
			set.Add("transformer.h.1.mlp.c_fc.weight", tensors.FromFlatDataAndDimensions(values, x.Shape().Dimensions...), "")
			if err := weights.WriteSafetensors(filepath.Join(m, "model.safetensors"), set, nil); err != nil {
				t.Fatal(err)
			}
			return []string{"generate", "--model", m}
		}, []string{"model.safetensors", `tensor "transformer.h.1.mlp.c_fc.weight"`, "value 5 (of 4096) is +Inf"}},
		{"config.json: NaN rope_scaling factor", func(t *testing.T, dir string) []string {
			m := editedModel(t, env.llamaDir, filepath.Join(dir, "m"), map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 2}})
			data, _ := os.ReadFile(filepath.Join(m, "config.json"))
			os.WriteFile(filepath.Join(m, "config.json"), bytes.Replace(data, []byte(`"factor":2`), []byte(`"factor":NaN`), 1), 0o644)
			return []string{"generate", "--model", m}
		}, []string{"config.json", `"factor":NaN`, "JSON has no NaN or Infinity"}},
		{"config.json: denormal rope_scaling factor", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", editedModel(t, env.llamaDir, filepath.Join(dir, "m"),
				map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 1e-320}})}
		}, []string{"config.json", "rope_scaling", "outside float32"}},
		{"config.json: layer_norm_epsilon past float32", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", editedModel(t, env.gpt2Dir, filepath.Join(dir, "m"), map[string]any{"layer_norm_epsilon": 1e300})}
		}, []string{"config.json", `"layer_norm_epsilon"`, "within float32's range, got 1e+300"}},
		{"--max-new-tokens -3", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", env.stories, "--max-new-tokens", "-3"}
		}, []string{"--max-new-tokens is -3"}},
		{"no tokenizer and no start id", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", editedModel(t, env.gpt2Dir, filepath.Join(dir, "m"), map[string]any{"bos_token_id": nil, "eos_token_id": nil})}
		}, []string{"no tokenizer, and no start id in the model", "--bos ID or --prompt-ids"}},
		{"--prompt-ids outside the vocabulary", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", env.stories, "--prompt-ids", "1 600"}
		}, []string{"outside the model's vocabulary of 512"}},
	}
}

// tinyLlamaGGUF returns the metadata and random F32 tensors of a llama.cpp
// GGUF file of a tiny LLaMA: vocabulary 32, width 32 (2 heads), 64 feed-
// forward units, the given number of blocks, tied output.
func tinyLlamaGGUF(blocks int) ([]weights.GGUFKV, []weights.GGUFTensor) {
	meta := []weights.GGUFKV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "general.alignment", Value: uint32(32)},
		{Key: "llama.context_length", Value: uint32(64)},
		{Key: "llama.embedding_length", Value: uint32(32)},
		{Key: "llama.block_count", Value: uint32(blocks)},
		{Key: "llama.feed_forward_length", Value: uint32(64)},
		{Key: "llama.attention.head_count", Value: uint32(2)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(1)},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(2)},
	}
	rng := rand.New(rand.NewPCG(7, 8))
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
	for b := range blocks {
		p := fmt.Sprintf("blk.%d.", b)
		ts = append(ts, tensor(p+"attn_norm.weight", 32), tensor(p+"attn_q.weight", 32, 32), tensor(p+"attn_k.weight", 32, 32),
			tensor(p+"attn_v.weight", 32, 32), tensor(p+"attn_output.weight", 32, 32), tensor(p+"ffn_norm.weight", 32),
			tensor(p+"ffn_gate.weight", 64, 32), tensor(p+"ffn_up.weight", 64, 32), tensor(p+"ffn_down.weight", 32, 64))
	}
	return meta, ts
}

// writeTestGGUF writes dir/m.gguf and returns its path.
func writeTestGGUF(t *testing.T, dir string, meta []weights.GGUFKV, ts []weights.GGUFTensor) string {
	t.Helper()
	path := filepath.Join(dir, "m.gguf")
	if err := weights.WriteGGUF(path, meta, ts); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyLlamaFile writes tinyLlamaGGUF(1) to dir/m.gguf and returns its path.
func tinyLlamaFile(t *testing.T, dir string) string {
	t.Helper()
	meta, ts := tinyLlamaGGUF(1)
	return writeTestGGUF(t, dir, meta, ts)
}

// forgedGGUF is a GGUF file's bytes, to forge tensor descriptions in place
// (dimensions, type, offset) and write back.
type forgedGGUF struct {
	t    *testing.T
	path string
	data []byte
}

// forgeGGUF reads the GGUF file at path for forging.
func forgeGGUF(t *testing.T, path string) *forgedGGUF {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &forgedGGUF{t, path, data}
}

// save writes the forged bytes back to the file.
func (f *forgedGGUF) save() {
	if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// ggufInfoAt is where a tensor's description lies in a forgedGGUF.
type ggufInfoAt struct {
	f     *forgedGGUF
	at    int // the first dimension
	ndims int
}

// tensor finds tensor name's description.
func (f *forgedGGUF) tensor(name string) ggufInfoAt {
	key := binary.LittleEndian.AppendUint64(nil, uint64(len(name)))
	i := bytes.Index(f.data, append(key, name...))
	if i < 0 {
		f.t.Fatalf("%s: no tensor %q", f.path, name)
	}
	i += len(key) + len(name)
	return ggufInfoAt{f, i + 4, int(binary.LittleEndian.Uint32(f.data[i:]))}
}

// setDim sets GGML dimension i (fastest-varying first).
func (g ggufInfoAt) setDim(i int, d uint64) { binary.LittleEndian.PutUint64(g.f.data[g.at+8*i:], d) }
func (g ggufInfoAt) setType(typ weights.GGUFType) {
	binary.LittleEndian.PutUint32(g.f.data[g.at+8*g.ndims:], uint32(typ))
}
func (g ggufInfoAt) setOffset(offset uint64) {
	binary.LittleEndian.PutUint64(g.f.data[g.at+8*g.ndims+4:], offset)
}
func (g ggufInfoAt) offset() uint64 { return binary.LittleEndian.Uint64(g.f.data[g.at+8*g.ndims+4:]) }

// patchGGUFKeyUint32 sets the uint32 value of metadata key in the GGUF file
// at path.
func patchGGUFKeyUint32(t *testing.T, path, key string, v uint32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k := append(binary.LittleEndian.AppendUint64(nil, uint64(len(key))), key...)
	i := bytes.Index(data, k)
	if i < 0 || binary.LittleEndian.Uint32(data[i+len(k):]) != 4 { // 4: a uint32 value
		t.Fatalf("%s: no uint32 key %q", path, key)
	}
	binary.LittleEndian.PutUint32(data[i+len(k)+4:], v)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateStartIDs generates without a tokenizer from models whose start
// and stop ids come from config.json, generation_config.json, a GGUF header
// and the flags: each run says on stderr which ids it used and where from.
func TestGenerateStartIDs(t *testing.T) {
	gpt2Dir, llamaDir := filepath.Join(golden.Dir("gpt2"), "model"), filepath.Join(golden.Dir("llama"), "model")
	dir := t.TempDir()
	fromConfig := editedModel(t, llamaDir, filepath.Join(dir, "config"), map[string]any{"bos_token_id": 3, "eos_token_id": []int{7, 9}})
	fromGeneration := editedModel(t, gpt2Dir, filepath.Join(dir, "generation"), map[string]any{"bos_token_id": 3, "eos_token_id": 7})
	os.WriteFile(filepath.Join(fromGeneration, "generation_config.json"), []byte(`{"bos_token_id": 5}`), 0o644)
	ggufPath := tinyLlamaFile(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"config.json", []string{"--model", fromConfig},
			fmt.Sprintf("starting from id 3 (bos_token_id in %[1]s); stopping at id 7 (eos_token_id in %[1]s), id 9 (eos_token_id in %[1]s)", filepath.Join(fromConfig, "config.json"))},
		{"generation_config.json over config.json", []string{"--model", fromGeneration},
			fmt.Sprintf("starting from id 5 (bos_token_id in %s); stopping at id 7 (eos_token_id in %s)", filepath.Join(fromGeneration, "generation_config.json"), filepath.Join(fromGeneration, "config.json"))},
		{"GGUF header", []string{"--model", ggufPath},
			fmt.Sprintf("starting from id 1 (tokenizer.ggml.bos_token_id of %[1]s); stopping at id 2 (tokenizer.ggml.eos_token_id of %[1]s)", ggufPath)},
		{"--bos", []string{"--model", fromConfig, "--bos", "11"}, "starting from id 11 (--bos); stopping at id 7"},
		{"--prompt-ids", []string{"--model", fromConfig, "--prompt-ids", "4 5 6"}, "starting from the 3 ids of --prompt-ids; stopping at id 7"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"generate", "--backend", "go", "--temperature", "0", "--max-new-tokens", "4", "--print-ids"}, tc.args...)
		if code := run(args, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %q", tc.name, code, errOut.String(), tc.want)
		}
	}
}
