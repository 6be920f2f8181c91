package gemma

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// TestLoadGGUFAsLlamaCppWritesIt writes a random Gemma 3 (random norms too;
// seven layers, so one is global) as llama.cpp's converter does — its
// names, its gemma3.* metadata, every norm weight stored as 1 + w — and
// reads it back with LoadGGUF: the config and the logits are the model's.
// The real file is checked against transformers in the models package.
func TestLoadGGUFAsLlamaCppWritesIt(t *testing.T) {
	backend := golden.Backend(t)
	window := 4
	cfg := &Config{ModelType: Gemma3, VocabSize: 64, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 7,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 16, MaxPositionEmbeddings: 64, QueryPreAttnScalar: 16,
		SlidingWindow: &window, TieWordEmbeddings: true}
	want, err := declared(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := want.specs()
	if err != nil {
		t.Fatal(err)
	}
	set := modeling.RandomWeights(sp, 5, 0.3)
	if want, err = New(cfg, set, backend); err != nil {
		t.Fatal(err)
	}
	var ts []weights.GGUFTensor
	for _, s := range sp {
		values, err := set.Float32Values(s.Name, s.Dims...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(s.Name, "norm.weight") {
			for i := range values {
				values[i]++
			}
		}
		ts = append(ts, weights.GGUFTensor{Name: ggufNames.Name(s.Name), Type: weights.GGUFF32, Dims: s.Dims, Values: values})
	}
	u := func(n int) uint32 { return uint32(n) }
	meta := []weights.GGUFKV{
		{Key: "general.architecture", Value: "gemma3"},
		{Key: "gemma3.context_length", Value: u(64)}, {Key: "gemma3.embedding_length", Value: u(32)},
		{Key: "gemma3.block_count", Value: u(7)}, {Key: "gemma3.feed_forward_length", Value: u(48)},
		{Key: "gemma3.attention.head_count", Value: u(2)}, {Key: "gemma3.attention.head_count_kv", Value: u(1)},
		{Key: "gemma3.attention.key_length", Value: u(16)}, {Key: "gemma3.attention.value_length", Value: u(16)},
		{Key: "gemma3.attention.sliding_window", Value: u(4)}, {Key: "gemma3.attention.layer_norm_rms_epsilon", Value: float32(1e-6)},
		{Key: "gemma3.rope.freq_base", Value: float32(1e6)},
	}
	path := filepath.Join(t.TempDir(), "gemma3.gguf")
	if err := weights.WriteGGUF(path, meta, ts); err != nil {
		t.Fatal(err)
	}
	got, err := LoadGGUF(path, backend)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Config
	if c.LayerTypes[5] != Full || c.LayerTypes[4] != Sliding || c.LayerTypes[6] != Sliding || c.RopeLocalBaseFreq != 10000 ||
		c.RopeTheta != 1e6 || c.Scale() != 0.25 || !c.TieWordEmbeddings || c.FinalLogitSoftcapping != nil {
		t.Errorf("config from the metadata: layer types %v, rotary bases %v and %v, scale %v, tied %v, soft cap %v",
			c.LayerTypes, c.RopeLocalBaseFreq, c.RopeTheta, c.Scale(), c.TieWordEmbeddings, c.FinalLogitSoftcapping)
	}
	ids := [][]int32{{2, 7, 19, 33, 4, 60, 11, 8, 21, 5}} // past the window of 4
	w, err := want.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := got.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d, _, err := golden.MaxAbsDiff(g.Logits, w.Logits); err != nil || d > 1e-5 {
		t.Errorf("logits of the GGUF file differ from the model's by %v (%v)", d, err)
	}
}
