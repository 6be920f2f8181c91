package phi3

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
// llama.cpp's converter (Phi3MiniModel) writes them: its names, the fused
// projections as they are, and, for longrope, the attention factor and the
// factor tensors.
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
	if s := c.RopeScaling; s != nil {
		for name, f := range map[string][]float64{ggufLongFactors: s.LongFactor, ggufShortFactors: s.ShortFactor} {
			v := make([]float32, len(f))
			for i := range f {
				v[i] = float32(f[i])
			}
			ts = append(ts, weights.GGUFTensor{Name: name, Type: weights.GGUFF32, Dims: []int{len(v)}, Values: v})
		}
	}
	for _, s := range sp {
		values, err := set.Float32Values(s.Name, s.Dims...)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, weights.GGUFTensor{Name: ggufNames.Name(s.Name), Type: weights.GGUFF32, Dims: s.Dims, Values: values})
	}
	u := func(n int) uint32 { return uint32(n) }
	meta := []weights.GGUFKV{
		{Key: "general.architecture", Value: "phi3"},
		{Key: "phi3.context_length", Value: u(c.MaxPositionEmbeddings)}, {Key: "phi3.rope.scaling.original_context_length", Value: u(c.OriginalMaxPositionEmbeddings)},
		{Key: "phi3.embedding_length", Value: u(c.HiddenSize)}, {Key: "phi3.feed_forward_length", Value: u(c.IntermediateSize)},
		{Key: "phi3.block_count", Value: u(c.NumHiddenLayers)}, {Key: "phi3.attention.head_count", Value: u(c.NumAttentionHeads)},
		{Key: "phi3.attention.head_count_kv", Value: u(c.NumKeyValueHeads)}, {Key: "phi3.attention.layer_norm_rms_epsilon", Value: float32(c.RMSNormEps)},
		{Key: "phi3.rope.dimension_count", Value: u(c.RotaryDim())}, {Key: "phi3.rope.freq_base", Value: float32(c.RopeTheta)},
		{Key: "phi3.attention.sliding_window", Value: u(c.Window())},
	}
	if c.RopeScaling != nil {
		// sqrt(1 + ln(64/8) / ln(8)), as the converter computes it.
		meta = append(meta, weights.GGUFKV{Key: "phi3.rope.scaling.attn_factor", Value: float32(1.4142135)})
	}
	return meta, ts
}

// TestLoadGGUFAsLlamaCppWritesIt writes the golden Phi-3 models (one with a
// sliding window, one tied with partial rotary and longrope) as llama.cpp's
// converter does and reads them back with LoadGGUF: outputs are Hugging
// Face's. (models.TestLoadGGUFFamilies reads the files the gguf package
// itself wrote.)
func TestLoadGGUFAsLlamaCppWritesIt(t *testing.T) {
	for _, family := range []string{"phi3/base", "phi3/longrope"} {
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
			if c := m.Config; c.RotaryDim() != want.RotaryDim() || c.Window() != want.Window() || c.TieWordEmbeddings != want.TieWordEmbeddings ||
				c.RopeScaling.Kind() != want.RopeScaling.Kind() || c.OriginalMaxPositionEmbeddings != want.OriginalMaxPositionEmbeddings {
				t.Errorf("config from the metadata %+v, want %+v", c, want)
			}
			decodetest.CheckGolden(t, family, m.Decoder)
		})
	}
}

// TestLoadGGUFErrors checks that a phi3 GGUF file without a required
// metadata key or tensor, or with one of longrope's two factor tensors, is
// an error naming the key or the tensors.
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
		{"phi3/base", "without phi3.context_length", drop("phi3.context_length"), []string{`metadata key "phi3.context_length" missing`}},
		{"phi3/base", "without the fused qkv", drop("blk.0.attn_qkv.weight"), []string{`tensor "blk.0.attn_qkv.weight"`, "missing"}},
		{"phi3/longrope", "without the short factors", drop(ggufShortFactors), []string{`"rope_factors_long.weight" and "rope_factors_short.weight" come together`}},
		{"phi3/longrope", "a rope dimension count the factors do not match", func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return weights.WithGGUFKV(meta, weights.GGUFKV{Key: "phi3.rope.dimension_count", Value: uint32(10)}), ts
		}, []string{`tensor "rope_factors_long.weight": shape [6], want [5]`}},
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
