package mamba

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// cases are the golden folders scripts/reference/goldens_mamba.py writes:
// a tied head with conv1d bias and time_step_rank "auto"; an untied head
// with in_proj/out_proj biases, no conv1d bias, time_step_rank 5,
// conv_kernel 3 and residual_in_fp32 false.
var cases = []string{"mamba", "mamba/untied"}

// load reads the model folder of a golden case.
func load(t *testing.T, family string) *Model {
	t.Helper()
	return loadDir(t, filepath.Join(golden.Dir(family), "model"))
}

func loadDir(t *testing.T, dir string) *Model {
	t.Helper()
	m, err := Load(dir, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkFamily compares m with its golden outputs from transformers'
// MambaForCausalLM: full forward (logits, hidden states), a right-padded
// batch, the recurrent cache stepped one token at a time after a prefill,
// and a left-padded batch.
func checkFamily(t *testing.T, family string, m *Model) {
	g := golden.Load(t, family)
	ids := golden.IDs(t, g, "input_ids")
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{HiddenStates: true})
	if err != nil {
		t.Fatal(err)
	}
	r := golden.Report{}
	r["logits"] = golden.Check(t, g, "logits", out.Logits, golden.Tolerance)
	for i, h := range out.HiddenStates {
		r["hidden"] = max(r["hidden"], golden.Check(t, g, fmt.Sprintf("hidden.%d", i), h, golden.Tolerance))
	}
	right := golden.IDs(t, g, "padded.attention_mask")
	padded, err := m.Forward(modeling.Batch{IDs: ids, AttentionMask: right}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["padded"] = golden.CheckMasked(t, g, "padded.logits", padded.Logits, right, golden.Tolerance)
	r["cache"] = golden.Check(t, g, "cache.step_logits", decodetest.StepThrough(t, m, ids, golden.Int(t, g, "cache.prefix_len")), golden.Tolerance)
	mask := golden.IDs(t, g, "leftpad.attention_mask")
	left, err := m.Forward(modeling.Batch{IDs: golden.IDs(t, g, "leftpad.input_ids"), AttentionMask: mask}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["leftpad"] = golden.CheckMasked(t, g, "leftpad.logits", left.Logits, mask, golden.Tolerance)
	t.Logf("%s (scan %v): max |diff| against transformers' MambaForCausalLM: %s", family, m.Scan, r)
}

// TestMatchesTransformers checks both golden models with every scan mode.
func TestMatchesTransformers(t *testing.T) {
	for _, family := range cases {
		for _, scan := range []modeling.ScanMode{modeling.ScanAuto, modeling.ScanLoop, modeling.ScanUnrolled, modeling.ScanParallel} {
			t.Run(fmt.Sprintf("%s/%v", family, scan), func(t *testing.T) {
				m := load(t, family)
				m.Scan = scan
				checkFamily(t, family, m)
			})
		}
	}
}

// TestStepsOfSeveralTokens checks the cache with steps of several tokens
// after the prefill (3, then 4, 1 and 4 tokens) against the full forward
// pass: each step's scan starts from the cached state. transformers' slow
// path starts such a step's scan from zeros (only its one-token steps read
// the cached state), so this is checked against our own forward pass,
// which the goldens check.
func TestStepsOfSeveralTokens(t *testing.T) {
	g := golden.Load(t, "mamba")
	ids := golden.IDs(t, g, "input_ids")
	for _, scan := range []modeling.ScanMode{modeling.ScanLoop, modeling.ScanUnrolled, modeling.ScanParallel} {
		m := load(t, "mamba")
		m.Scan = scan
		c, err := m.NewCache(len(ids), len(ids[0]))
		if err != nil {
			t.Fatal(err)
		}
		from := 0
		for _, n := range []int{3, 4, 1, 4} {
			rows := make([][]int32, len(ids))
			for i := range rows {
				rows[i] = ids[i][from : from+n]
			}
			logits, err := m.Step(c, rows, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := golden.Float(t, g, "logits")
			d, _, err := golden.MaxAbsDiff(logits, sliceTokens(want, from, from+n))
			if err != nil || d > golden.Tolerance {
				t.Errorf("scan %v, tokens %d..%d: max |diff| %.3g against the full forward pass (%v)", scan, from, from+n-1, d, err)
			}
			from += n
		}
		c.Free()
	}
}

// sliceTokens returns x [B, T, V] restricted to tokens [from, to).
func sliceTokens(x *tensors.Tensor, from, to int) *tensors.Tensor {
	dims := x.Shape().Dimensions
	flat := tensors.MustCopyFlatData[float32](x)
	out := make([]float32, 0, dims[0]*(to-from)*dims[2])
	for b := range dims[0] {
		out = append(out, flat[(b*dims[1]+from)*dims[2]:(b*dims[1]+to)*dims[2]]...)
	}
	return tensors.FromFlatDataAndDimensions(out, dims[0], to-from, dims[2])
}

// TestCheckpointVariants loads the goldens saved by Save, with the
// embedding under its older name (backbone.embedding.weight, which
// transformers' load_hook renames), and with a tied head written out as
// lm_head.weight too, and checks the same reference.
func TestCheckpointVariants(t *testing.T) {
	m := load(t, "mamba")
	saved := t.TempDir()
	if err := m.Save(saved); err != nil {
		t.Fatal(err)
	}
	back, err := Load(saved, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	checkFamily(t, "mamba", back)
	for name, edit := range map[string]func(s *weights.Set){
		"old embedding name": func(s *weights.Set) { s.Rename("backbone.embeddings.weight", "backbone.embedding.weight") },
		"tied head saved": func(s *weights.Set) {
			e, _ := s.Get("backbone.embeddings.weight")
			s.Add("lm_head.weight", e, "")
		},
	} {
		t.Run(name, func(t *testing.T) {
			set, err := weights.ReadDir(saved)
			if err != nil {
				t.Fatal(err)
			}
			edit(set)
			dir := t.TempDir()
			if err := modeling.SaveModel(dir, set, m.Config); err != nil {
				t.Fatal(err)
			}
			checkFamily(t, "mamba", loadDir(t, dir))
		})
	}
}

// TestBadConfig checks that a config.json Mamba cannot run is an error
// naming the file and the field.
func TestBadConfig(t *testing.T) {
	const ok = `"vocab_size":96,"hidden_size":32,"num_hidden_layers":2`
	for _, tc := range []struct{ json, want string }{
		{`{"hidden_size":32,"num_hidden_layers":2}`, `"vocab_size"`},
		{`{` + ok + `,"time_step_rank":"big"}`, `"time_step_rank"`},
		{`{` + ok + `,"time_step_rank":2.5}`, `"time_step_rank"`},
		{`{` + ok + `,"time_step_rank":0}`, `"time_step_rank"`},
		{`{` + ok + `,"conv_kernel":1}`, `"conv_kernel"`},
		{`{` + ok + `,"conv_kernel":-4}`, `"conv_kernel"`},
		{`{` + ok + `,"state_size":-1}`, `"state_size"`},
		{`{` + ok + `,"expand":100000000}`, `"expand"`},
		{`{` + ok + `,"layer_norm_epsilon":-1}`, `"layer_norm_epsilon"`},
		{`{` + ok + `,"hidden_act":"swish2"}`, `"hidden_act"`},
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

// TestConfigDefaults reads a config.json holding only the sizes: the rest
// takes MambaConfig's defaults.
func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"vocab_size":96,"hidden_size":40,"num_hidden_layers":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateSize != 16 || c.Inner() != 80 || c.ConvKernel != 4 || c.TimeStepRank() != 3 || !c.UseConvBias() || c.UseBias ||
		!c.TieWordEmbeddings() || !c.ResidualInFP32() || c.LayerNormEpsilon != 1e-5 || c.HiddenAct != "silu" {
		t.Errorf("defaults: %+v, inner %d, time_step_rank %d", c, c.Inner(), c.TimeStepRank())
	}
}

// TestMisuse checks the errors of calls a recurrent model cannot serve.
func TestMisuse(t *testing.T) {
	m := load(t, "mamba")
	if _, err := m.Forward(modeling.Batch{IDs: [][]int32{{1, 2}}}, modeling.ForwardOptions{Attentions: true}); err == nil || !strings.Contains(err.Error(), "attention") {
		t.Errorf("Forward asking for attentions: err = %v", err)
	}
	if _, err := m.Forward(modeling.Batch{IDs: [][]int32{{1, 96}}}, modeling.ForwardOptions{}); err == nil || !strings.Contains(err.Error(), "96") {
		t.Errorf("Forward with an id past the vocabulary: err = %v", err)
	}
	c, err := m.NewCache(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Step(c, [][]int32{{1, 2, 3, 4}}, nil); err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("Step past the cache's length: err = %v", err)
	}
	if _, err := m.Step(c, [][]int32{{1}, {2}}, nil); err == nil || !strings.Contains(err.Error(), "rows") {
		t.Errorf("Step with another batch: err = %v", err)
	}
	c.Free()
	if _, err := m.Step(c, [][]int32{{1}}, nil); err == nil || !strings.Contains(err.Error(), "freed") {
		t.Errorf("Step on a freed cache: err = %v", err)
	}
}

// TestNewRandom builds a model with Mamba's own initialization and checks
// that its cache steps give its forward pass's logits.
func TestNewRandom(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"vocab_size":50,"hidden_size":16,"num_hidden_layers":2,"state_size":4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, 1, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int32{{1, 5, 9, 2, 7, 3}}
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	steps := decodetest.StepThrough(t, m, ids, 2)
	if d, _, err := golden.MaxAbsDiff(steps, sliceTokens(out.Logits, 2, 6)); err != nil || d > golden.Tolerance {
		t.Errorf("random model: steps differ from the forward pass by %.3g (%v)", d, err)
	}
}
