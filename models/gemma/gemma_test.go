package gemma

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// checkGolden compares a model with the golden outputs of Hugging Face's
// own class: full forward (logits, hidden states, attentions), a
// right-padded batch, KV-cache steps and a left-padded batch with
// generate()'s positions.
func checkGolden(t *testing.T, family string, m *Model) {
	t.Helper()
	g := golden.Load(t, family)
	ids := golden.IDs(t, g, "input_ids")
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{HiddenStates: true, Attentions: true})
	if err != nil {
		t.Fatal(err)
	}
	r := golden.Report{}
	r["logits"] = golden.Check(t, g, "logits", out.Logits, golden.Tolerance)
	for i, h := range out.HiddenStates {
		r["hidden"] = max(r["hidden"], golden.Check(t, g, fmt.Sprintf("hidden.%d", i), h, golden.Tolerance))
	}
	for i, a := range out.Attentions {
		r["attn"] = max(r["attn"], golden.Check(t, g, fmt.Sprintf("attn.%d", i), a, golden.Tolerance))
	}
	right := golden.IDs(t, g, "padded.attention_mask")
	padded, err := m.Forward(modeling.Batch{IDs: ids, AttentionMask: right}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["padded"] = golden.CheckMasked(t, g, "padded.logits", padded.Logits, right, golden.Tolerance)
	r["kv"] = golden.Check(t, g, "kv.step_logits", decodetest.StepThrough(t, m.Decoder, ids, golden.Int(t, g, "kv.prefix_len")), golden.Tolerance)
	mask := golden.IDs(t, g, "leftpad.attention_mask")
	left, err := m.Forward(modeling.Batch{IDs: golden.IDs(t, g, "leftpad.input_ids"), AttentionMask: mask,
		PositionIDs: golden.IDs(t, g, "leftpad.position_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["leftpad"] = golden.CheckMasked(t, g, "leftpad.logits", left.Logits, mask, golden.Tolerance)
	t.Logf("%s: max |diff| against Hugging Face's own class: %s", family, r)
}

func load(t *testing.T, dir string) *Model {
	t.Helper()
	m, err := Load(dir, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGemma2 checks Gemma 2 against Gemma2ForCausalLM: soft caps on the
// attention scores and the logits, alternating sliding and global layers
// (from the default pattern), q/k/v/o biases and an untied head.
func TestGemma2(t *testing.T) {
	m := load(t, filepath.Join(golden.Dir("gemma2"), "model"))
	c := m.Config
	if !slices.Equal(c.LayerWindows(), []int{4, 0, 4}) || c.AttentionSoftCap() != 2 || *c.FinalLogitSoftcapping != 3 || c.TieWordEmbeddings {
		t.Fatalf("gemma2 config read as windows %v, caps %v and %v, tied %v", c.LayerWindows(), c.AttentionSoftCap(), *c.FinalLogitSoftcapping, c.TieWordEmbeddings)
	}
	checkGolden(t, "gemma2", m)
}

// TestGemma3 checks Gemma 3 against Gemma3ForCausalLM: q/k norms, rotary
// bases per layer type (with linear scaling on the global layers only),
// layer types from sliding_window_pattern, one key/value head and a tied
// head.
func TestGemma3(t *testing.T) {
	m := load(t, filepath.Join(golden.Dir("gemma3"), "model"))
	if w := m.Config.LayerWindows(); !slices.Equal(w, []int{4, 4, 0, 4}) {
		t.Fatalf("gemma3 layer windows %v, want [4 4 0 4]", w)
	}
	checkGolden(t, "gemma3", m)
}

// rewrite copies the golden folder of family to a temporary folder, with
// its config.json passed through edit (the weights are linked).
func rewrite(t *testing.T, family string, edit func(cfg map[string]any)) string {
	t.Helper()
	src := filepath.Join(golden.Dir(family), "model")
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	dir := t.TempDir()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(src, "model.safetensors"), filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGemma3ConfigLayouts loads the Gemma 3 golden with its config laid out
// as the real checkpoints give it (layer_types spelled out, as Gemma 3
// 270M's) and as transformers 5 saves it (rope_parameters per layer type),
// and checks the same reference.
func TestGemma3ConfigLayouts(t *testing.T) {
	layouts := map[string]func(cfg map[string]any){
		"layer_types": func(cfg map[string]any) {
			delete(cfg, "sliding_window_pattern")
			cfg["layer_types"] = []string{Sliding, Sliding, Full, Sliding}
		},
		"rope_parameters": func(cfg map[string]any) {
			full := cfg["rope_scaling"].(map[string]any)
			full["rope_theta"] = cfg["rope_theta"]
			cfg["rope_parameters"] = map[string]any{Full: full,
				Sliding: map[string]any{"rope_type": "default", "rope_theta": cfg["rope_local_base_freq"]}}
			for _, k := range []string{"rope_scaling", "rope_theta", "rope_local_base_freq"} {
				delete(cfg, k)
			}
		},
	}
	for name, edit := range layouts {
		t.Run(name, func(t *testing.T) { checkGolden(t, "gemma3", load(t, rewrite(t, "gemma3", edit))) })
	}
}

// TestSaveLoadRoundTrip saves each golden model and checks the folder it
// wrote against the same reference: the soft caps, layer types and rotary
// bases survive config.json.
func TestSaveLoadRoundTrip(t *testing.T) {
	for _, family := range []string{"gemma2", "gemma3"} {
		t.Run(family, func(t *testing.T) {
			m := load(t, filepath.Join(golden.Dir(family), "model"))
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, family, load(t, dir))
		})
	}
}

// TestConfigDefaults checks Hugging Face's defaults where the two versions
// differ, and where an absent field differs from a null one.
func TestConfigDefaults(t *testing.T) {
	base := `"vocab_size":96,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":7,"num_attention_heads":4`
	for _, tc := range []struct {
		json       string
		windows    []int
		attn       float64
		final      *float64
		theta      float64
		local      float64
		tied       bool
		maxPos, kv int
	}{
		{`{"model_type":"gemma2",` + base + `}`, []int{4096, 0, 4096, 0, 4096, 0, 4096}, 50, ptr(30.0), 10000, 0, true, 8192, 4},
		{`{"model_type":"gemma2",` + base + `,"attn_logit_softcapping":null,"final_logit_softcapping":null,"sliding_window":8,"tie_word_embeddings":false}`,
			[]int{8, 0, 8, 0, 8, 0, 8}, 0, nil, 10000, 0, false, 8192, 4},
		{`{"model_type":"gemma3_text",` + base + `,"num_key_value_heads":2}`, []int{4096, 4096, 4096, 4096, 4096, 0, 4096}, 0, nil, 1e6, 10000, true, 131072, 2},
		{`{"model_type":"gemma3_text",` + base + `,"attn_logit_softcapping":50,"final_logit_softcapping":30,"sliding_window_pattern":2}`,
			[]int{4096, 0, 4096, 0, 4096, 0, 4096}, 0, ptr(30.0), 1e6, 10000, true, 131072, 4},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := ReadConfig(dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		final := c.FinalLogitSoftcapping
		if !slices.Equal(c.LayerWindows(), tc.windows) || c.AttentionSoftCap() != tc.attn || (final == nil) != (tc.final == nil) ||
			final != nil && *final != *tc.final || c.RopeTheta != tc.theta || c.RopeLocalBaseFreq != tc.local ||
			c.TieWordEmbeddings != tc.tied || c.MaxPositionEmbeddings != tc.maxPos || c.NumKeyValueHeads != tc.kv ||
			c.HeadDim != 256 || c.QueryPreAttnScalar != 256 || c.HiddenActivation != "gelu_pytorch_tanh" {
			t.Errorf("%s: read as %+v", tc.json, c)
		}
	}
}

func TestBadConfig(t *testing.T) {
	base := `"vocab_size":96,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2`
	for _, tc := range []struct{ json, want string }{
		{`{` + base + `}`, `"model_type"`},
		{`{"model_type":"gemma",` + base + `}`, `"gemma"`},
		{`{"model_type":"gemma2",` + base + `,"layer_types":["sliding_attention"]}`, `"layer_types"`},
		{`{"model_type":"gemma2",` + base + `,"layer_types":["sliding_attention","chunked_attention"]}`, `"chunked_attention"`},
		{`{"model_type":"gemma2",` + base + `,"sliding_window":null}`, `"sliding_window"`},
		{`{"model_type":"gemma2",` + base + `,"final_logit_softcapping":-1}`, `"final_logit_softcapping"`},
		{`{"model_type":"gemma2",` + base + `,"query_pre_attn_scalar":0.0,"rms_norm_eps":-1}`, `"rms_norm_eps"`},
		{`{"model_type":"gemma2",` + base + `,"hidden_activation":"swiglu"}`, `"swiglu"`},
		{`{"model_type":"gemma3_text",` + base + `,"use_bidirectional_attention":true}`, `"use_bidirectional_attention"`},
		{`{"model_type":"gemma3_text",` + base + `,"rope_parameters":{"rope_theta":10000}}`, `"rope_parameters"`},
		{`{"model_type":"gemma3_text",` + base + `,"rope_theta":1e6,"rope_parameters":{"full_attention":{"rope_type":"default","rope_theta":1e4}}}`, `"rope_theta"`},
		{`{"model_type":"gemma3_text",` + base + `,"rope_parameters":{"sliding_attention":{"rope_type":"linear","factor":2}}}`, `"rope_parameters.sliding_attention"`},
		{`{"model_type":"gemma3_text",` + base + `,"rope_scaling":{"rope_type":"yarn","factor":2}}`, `"yarn"`},
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
