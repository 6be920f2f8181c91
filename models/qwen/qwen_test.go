package qwen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
)

func load(t *testing.T, family string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMatchesHuggingFace checks each golden case (scripts/reference/goldens_qwen.py)
// against Hugging Face's Qwen2ForCausalLM and Qwen3ForCausalLM: full
// forward, padding, KV cache and left padding, with the detail each case
// is there for.
func TestMatchesHuggingFace(t *testing.T) {
	for _, tc := range []struct {
		family  string
		windows []int
		tied    bool
		biases  []string // the attention projections with a bias
		headDim int
	}{
		{"qwen2", []int{0, 0}, false, []string{"q_proj", "k_proj", "v_proj"}, 8},
		{"qwen2_sliding", []int{0, 3, 3}, false, []string{"q_proj", "k_proj", "v_proj"}, 8},
		{"qwen3", []int{0, 0}, false, nil, 16},
		{"qwen3_tied", []int{4, 0, 4}, true, []string{"q_proj", "k_proj", "v_proj", "o_proj"}, 8},
	} {
		t.Run(tc.family, func(t *testing.T) {
			m := load(t, tc.family)
			c := m.Config
			if got := c.LayerWindows(); !slices.Equal(got, tc.windows) {
				t.Errorf("layer windows %v, want %v", got, tc.windows)
			}
			if c.TieWordEmbeddings != tc.tied || m.Params().Has("lm_head.weight") == tc.tied {
				t.Errorf("tie_word_embeddings %v, lm_head.weight loaded %v", c.TieWordEmbeddings, m.Params().Has("lm_head.weight"))
			}
			for _, p := range []string{"q_proj", "k_proj", "v_proj", "o_proj"} {
				name := "model.layers.0.self_attn." + p + ".bias"
				if m.Params().Has(name) != slices.Contains(tc.biases, p) {
					t.Errorf("%s loaded: %v", name, m.Params().Has(name))
				}
			}
			if c.HeadDim() != tc.headDim || m.Params().Has("model.layers.0.self_attn.q_norm.weight") != c.QKNorm() {
				t.Errorf("head_dim %d, q_norm loaded %v", c.HeadDim(), m.Params().Has("model.layers.0.self_attn.q_norm.weight"))
			}
			decodetest.CheckGolden(t, tc.family, m.Decoder)
		})
	}
}

// TestSaveLoadRoundTrip saves a Qwen3 model with a tied head and sliding
// layers and checks the folder it writes against the same reference.
func TestSaveLoadRoundTrip(t *testing.T) {
	m := load(t, "qwen3_tied")
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	decodetest.CheckGolden(t, "qwen3_tied", back.Decoder)
}

func TestBadConfig(t *testing.T) {
	const base = `"vocab_size":96,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4`
	for _, tc := range []struct{ json, want string }{
		{`{` + base + `}`, `"model_type"`},
		{`{"model_type":"qwen2_moe",` + base + `}`, `"qwen2_moe"`},
		{`{"model_type":"qwen3",` + base + `,"num_key_value_heads":3}`, `"num_key_value_heads"`},
		{`{"model_type":"qwen2",` + base + `,"use_sliding_window":true,"sliding_window":0}`, `"sliding_window"`},
		{`{"model_type":"qwen3",` + base + `,"layer_types":["full_attention"]}`, `"layer_types" lists 1 layers`},
		{`{"model_type":"qwen3",` + base + `,"use_sliding_window":true,"sliding_window":4,"layer_types":["full_attention","chunked_attention"]}`, `"chunked_attention"`},
		{`{"model_type":"qwen3",` + base + `,"sliding_window":4,"layer_types":["full_attention","sliding_attention"]}`, `no window`},
		{`{"model_type":"qwen3",` + base + `,"rope_theta":10000,"rope_parameters":{"rope_type":"default","rope_theta":1000000}}`, `"rope_parameters.rope_theta"`},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadConfig(dir); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("config %s: err = %v; want one naming config.json and %s", tc.json, err, tc.want)
		}
	}
}

// TestDefaults checks the values Hugging Face's configs fill in: Qwen3's
// head_dim is 128 whatever the width, Qwen2's follows the width; without
// layer_types, the layers from max_window_layers (28 when absent) on slide.
func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		json    string
		headDim int
		windows []int
	}{
		{`{"model_type":"qwen3","vocab_size":8,"hidden_size":32,"intermediate_size":8,"num_hidden_layers":2,"num_attention_heads":4}`, 128, []int{0, 0}},
		{`{"model_type":"qwen2","vocab_size":8,"hidden_size":32,"intermediate_size":8,"num_hidden_layers":30,"num_attention_heads":4,"use_sliding_window":true,"sliding_window":5}`,
			8, append(make([]int, 28), 5, 5)},
		{`{"model_type":"qwen2","vocab_size":8,"hidden_size":32,"intermediate_size":8,"num_hidden_layers":3,"num_attention_heads":4,"use_sliding_window":false,"sliding_window":5,"max_window_layers":0}`,
			8, []int{0, 0, 0}},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := ReadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		if c.HeadDim() != tc.headDim || !slices.Equal(c.LayerWindows(), tc.windows) || c.NumKeyValueHeads != 4 || c.RopeTheta != 10000 {
			t.Errorf("%s: head_dim %d, windows %v, num_key_value_heads %d, rope_theta %v", tc.json, c.HeadDim(), c.LayerWindows(), c.NumKeyValueHeads, c.RopeTheta)
		}
	}
}
