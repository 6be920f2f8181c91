package qwen

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// ggufFile returns the metadata and tensors of the golden model family as
// llama.cpp's converter writes them: its names, the weights unchanged, the
// keys of Qwen2Model and Qwen3Model (key_length when config.json has
// head_dim).
func ggufFile(t *testing.T, family string) ([]weights.GGUFKV, []weights.GGUFTensor) {
	t.Helper()
	m := load(t, family)
	c := m.Config
	set, err := m.Params().Weights()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := m.specs()
	if err != nil {
		t.Fatal(err)
	}
	var ts []weights.GGUFTensor
	for _, s := range sp {
		values, err := set.Float32Values(s.Name, s.Dims...)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, weights.GGUFTensor{Name: ggufNames.Name(s.Name), Type: weights.GGUFF32, Dims: s.Dims, Values: values})
	}
	a, u := c.ModelType, func(n int) uint32 { return uint32(n) }
	meta := []weights.GGUFKV{
		{Key: "general.architecture", Value: a},
		{Key: a + ".block_count", Value: u(c.NumHiddenLayers)}, {Key: a + ".context_length", Value: u(c.MaxPositionEmbeddings)},
		{Key: a + ".embedding_length", Value: u(c.HiddenSize)}, {Key: a + ".feed_forward_length", Value: u(c.IntermediateSize)},
		{Key: a + ".attention.head_count", Value: u(c.NumAttentionHeads)}, {Key: a + ".attention.head_count_kv", Value: u(c.NumKeyValueHeads)},
		{Key: a + ".rope.freq_base", Value: float32(c.RopeTheta)}, {Key: a + ".attention.layer_norm_rms_epsilon", Value: float32(c.RMSNormEps)},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(1)}, {Key: "tokenizer.ggml.eos_token_id", Value: uint32(2)},
	}
	if c.ModelType == "qwen3" {
		meta = append(meta, weights.GGUFKV{Key: a + ".attention.key_length", Value: u(c.HeadDim())},
			weights.GGUFKV{Key: a + ".attention.value_length", Value: u(c.HeadDim())})
	}
	return meta, ts
}

// TestLoadGGUFAsLlamaCppWritesIt writes the golden Qwen2 and Qwen3 models
// as llama.cpp's converter does and reads them back with LoadGGUF: config
// and outputs are Hugging Face's. (models.TestLoadGGUFFamilies reads the
// files the gguf package itself wrote.)
func TestLoadGGUFAsLlamaCppWritesIt(t *testing.T) {
	for _, family := range []string{"qwen2", "qwen3"} {
		t.Run(family, func(t *testing.T) {
			meta, ts := ggufFile(t, family)
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := weights.WriteGGUF(path, meta, ts); err != nil {
				t.Fatal(err)
			}
			m, err := LoadGGUF(path, golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			want := load(t, family).Config
			if c := m.Config; c.HeadDim() != want.HeadDim() || c.QKVBias() != want.QKVBias() || c.TieWordEmbeddings != want.TieWordEmbeddings ||
				c.RopeTheta != want.RopeTheta || c.VocabSize != want.VocabSize || c.NumKeyValueHeads != want.NumKeyValueHeads {
				t.Errorf("config from the metadata %+v, want %+v", c, want)
			}
			decodetest.CheckGolden(t, family, m.Decoder)
		})
	}
}

// TestLoadGGUFErrors checks that a qwen GGUF file without a required
// metadata key or tensor, or with another layout's tensors, is an error
// naming the key or the tensor.
func TestLoadGGUFErrors(t *testing.T) {
	drop := func(name string) func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
		return func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return slices.DeleteFunc(meta, func(kv weights.GGUFKV) bool { return kv.Key == name }),
				slices.DeleteFunc(ts, func(t weights.GGUFTensor) bool { return t.Name == name })
		}
	}
	for _, tc := range []struct {
		family, name string
		edit         func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor)
		want         []string
	}{
		{"qwen2", "without qwen2.feed_forward_length", drop("qwen2.feed_forward_length"), []string{`metadata key "qwen2.feed_forward_length" missing`}},
		{"qwen3", "without qwen3.attention.layer_norm_rms_epsilon", drop("qwen3.attention.layer_norm_rms_epsilon"),
			[]string{`metadata key "qwen3.attention.layer_norm_rms_epsilon" missing`}},
		{"qwen2", "without a query bias", drop("blk.1.attn_q.bias"), []string{`tensor "blk.1.attn_q.bias"`, "missing"}},
		{"qwen3", "without a key norm", drop("blk.0.attn_k_norm.weight"), []string{`tensor "blk.0.attn_k_norm.weight"`, "missing"}},
		{"qwen3", "a qwen2 file with qwen3's norms", func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			for i, kv := range meta {
				meta[i].Key = strings.Replace(kv.Key, "qwen3", "qwen2", 1)
				if kv.Key == "general.architecture" {
					meta[i].Value = "qwen2"
				}
			}
			return meta, ts
		}, []string{"tensors the config does not use", `"blk.0.attn_k_norm.weight"`}},
		{"qwen2", "yarn rope scaling", func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return append(meta, weights.GGUFKV{Key: "qwen2.rope.scaling.type", Value: "yarn"}), ts
		}, []string{`"qwen2.rope.scaling.type" is "yarn"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta, ts := tc.edit(ggufFile(t, tc.family))
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := weights.WriteGGUF(path, meta, ts); err != nil {
				t.Fatal(err)
			}
			_, err := LoadGGUF(path, golden.Backend(t))
			for _, w := range append(tc.want, "m.gguf") {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v, want one holding %q", err, w)
				}
			}
			t.Log(err)
		})
	}
}
