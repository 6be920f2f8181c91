package llama

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// checkFamily compares a model with its golden outputs (see
// decodetest.CheckGolden).
func checkFamily(t *testing.T, family string, m *Model) {
	t.Helper()
	decodetest.CheckGolden(t, family, m.Decoder)
}

func load(t *testing.T, family, folder string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir(family), folder), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLlama2GQA(t *testing.T) { checkFamily(t, "llama", load(t, "llama", "model")) }

// TestRowBlocksMatchReference lays every projection and the head out in
// small blocks of rows, as decoding on the go backend does with larger
// ones (modeling.SplitRows), and checks the same reference: untied (llama)
// and tied (llama3) heads.
func TestRowBlocksMatchReference(t *testing.T) {
	for _, family := range []string{"llama", "llama3"} {
		m := load(t, family, "model")
		names := m.Params().NamesWithRoles(modeling.ColumnParallel, modeling.RowParallel, modeling.LMHead)
		if err := m.Params().SplitRows(64, names...); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if m.Params().RowBlocks(n) < 2 {
				t.Fatalf("%s: %s is in %d blocks, want several", family, n, m.Params().RowBlocks(n))
			}
		}
		checkFamily(t, family, m)
	}
}

func TestLlama3RopeScalingTiedHead(t *testing.T) {
	checkFamily(t, "llama3", load(t, "llama3", "model"))
}

func TestMistralSlidingWindow(t *testing.T) {
	m := load(t, "mistral", "model")
	if m.Config.Window() != 3 || m.Config.ModelType != "mistral" {
		t.Fatalf("mistral config: window %d, type %q", m.Config.Window(), m.Config.ModelType)
	}
	checkFamily(t, "mistral", m)
}

func TestBF16Checkpoint(t *testing.T) {
	g := golden.Load(t, "llama")
	out, err := load(t, "llama", "model-bf16").Forward(modeling.Batch{IDs: golden.IDs(t, g, "input_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, g, "bf16.logits", out.Logits, golden.Tolerance)
}

func TestLlama2CCheckpoint(t *testing.T) {
	m, err := LoadLlama2C(filepath.Join(golden.Dir("llama"), "model.bin"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	checkFamily(t, "llama", m)
}

// TestStories260KMatchesLlama2C checks the real stories260K checkpoint
// against scripts/reference/llama2c.py, which follows llama2.c's run.c
// (interleaved rotary pairs, the file's own q/k order): this tests the q/k
// permutation on a trained model, independently of our Hugging Face export.
func TestStories260KMatchesLlama2C(t *testing.T) {
	m, err := LoadLlama2C(assets.Require(t, assets.Stories260K), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	g := golden.Load(t, "stories260K")
	out, err := m.Forward(modeling.Batch{IDs: golden.IDs(t, g, "input_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := golden.Check(t, g, "logits", out.Logits, golden.Tolerance)
	t.Logf("stories260K logits, max |diff| against llama2.c's forward: %.2g", d)
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := load(t, "llama3", "model")
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	checkFamily(t, "llama3", back)
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4}`, `"vocab_size"`},
		{`{"vocab_size":96,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":3}`, `"num_key_value_heads"`},
		{`{"vocab_size":96,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4,"rope_scaling":{"rope_type":"yarn","factor":2}}`, `"yarn"`},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.json), 0o644)
		if _, err := ReadConfig(dir); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("config %s: err = %v; want one naming config.json and %s", tc.json, err, tc.want)
		}
	}
	// A checkpoint missing a tensor names the file and the tensor.
	dir := t.TempDir()
	src := filepath.Join(golden.Dir("llama"), "model")
	cfg, _ := os.ReadFile(filepath.Join(src, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	os.Symlink(filepath.Join(golden.Dir("llama3"), "model", "model.safetensors"), filepath.Join(dir, "model.safetensors"))
	if _, err := Load(dir, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("mismatched checkpoint: err = %v", err)
	}
}

// TestTransformers5RopeParameters loads the Llama 3 golden with its config
// laid out as transformers 5 saves it (rope_theta and rope_scaling inside
// rope_parameters) and checks the same reference; a config giving both
// layouts with different bases is refused.
func TestTransformers5RopeParameters(t *testing.T) {
	src := filepath.Join(golden.Dir("llama3"), "model")
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	params := cfg["rope_scaling"].(map[string]any)
	params["rope_theta"] = cfg["rope_theta"]
	delete(cfg, "rope_scaling")
	delete(cfg, "rope_theta")
	cfg["rope_parameters"] = params
	dir := t.TempDir()
	write := func() {
		data, _ := json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if err := os.Symlink(filepath.Join(src, "model.safetensors"), filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.RopeTheta != 500000 || m.Config.RopeScaling.Kind() != "llama3" {
		t.Fatalf("rope_parameters read as rope_theta %v, scaling %q", m.Config.RopeTheta, m.Config.RopeScaling.Kind())
	}
	checkFamily(t, "llama3", m)
	cfg["rope_theta"] = 10000.0
	write()
	if _, err := Load(dir, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), "rope_parameters.rope_theta") {
		t.Errorf("rope_theta and rope_parameters.rope_theta differ: err = %v", err)
	}
}
