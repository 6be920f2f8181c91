package gpt2

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

func load(t *testing.T, folder string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir("gpt2"), folder), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatchesReference(t *testing.T) { checkReference(t, load(t, "model")) }

// checkReference compares m with the golden outputs: full forward (logits,
// hidden states, attentions), a padded batch, and KV-cache steps.
func checkReference(t *testing.T, m *Model) {
	t.Helper()
	g := golden.Load(t, "gpt2")
	ids := golden.IDs(t, g, "input_ids")
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{HiddenStates: true, Attentions: true})
	if err != nil {
		t.Fatal(err)
	}
	r := golden.Report{}
	r["logits"] = golden.Check(t, g, "logits", out.Logits, golden.Tolerance)
	if len(out.HiddenStates) != m.Config.NLayer+1 || len(out.Attentions) != m.Config.NLayer {
		t.Fatalf("%d hidden states and %d attentions, want %d and %d", len(out.HiddenStates), len(out.Attentions), m.Config.NLayer+1, m.Config.NLayer)
	}
	for i, h := range out.HiddenStates {
		r["hidden"] = max(r["hidden"], golden.Check(t, g, "hidden."+strconv.Itoa(i), h, golden.Tolerance))
	}
	for i, a := range out.Attentions {
		r["attn"] = max(r["attn"], golden.Check(t, g, "attn."+strconv.Itoa(i), a, golden.Tolerance))
	}

	right := golden.IDs(t, g, "padded.attention_mask")
	padded, err := m.Forward(modeling.Batch{IDs: ids, AttentionMask: right}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["padded"] = golden.CheckMasked(t, g, "padded.logits", padded.Logits, right, golden.Tolerance)
	r["kv"] = golden.Check(t, g, "kv.step_logits", decodetest.StepThrough(t, m.Decoder, ids, golden.Int(t, g, "kv.prefix_len")), golden.Tolerance)
	r["leftpad"] = checkLeftPadded(t, m, g)
	t.Logf("max |diff| against Hugging Face's GPT2LMHeadModel: %s", r)
}

// checkLeftPadded runs the golden's left-padded batch with the positions
// Hugging Face's generate() gives it (counted from each row's first real
// token) and compares the logits of the real positions.
func checkLeftPadded(t *testing.T, m *Model, g *weights.Set) float64 {
	t.Helper()
	mask := golden.IDs(t, g, "leftpad.attention_mask")
	out, err := m.Forward(modeling.Batch{IDs: golden.IDs(t, g, "leftpad.input_ids"), AttentionMask: mask,
		PositionIDs: golden.IDs(t, g, "leftpad.position_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return golden.CheckMasked(t, g, "leftpad.logits", out.Logits, mask, golden.Tolerance)
}

// TestRowBlocksMatchReference lays the projections and the tied embedding
// out in small blocks of rows, as decoding on the go backend does with
// larger ones (modeling.SplitRows), and checks the same reference, before
// and after a save that joins the blocks.
func TestRowBlocksMatchReference(t *testing.T) {
	m := load(t, "model")
	names := m.Params().NamesWithRoles(modeling.ColumnParallel, modeling.RowParallel, modeling.LMHead)
	if err := m.Params().SplitRows(64, names...); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if m.Params().RowBlocks(n) < 2 {
			t.Fatalf("%s is in %d blocks, want several", n, m.Params().RowBlocks(n))
		}
	}
	checkReference(t, m)
	checkReference(t, saveAndLoad(t, m))
}

// saveAndLoad saves m and loads it back.
func saveAndLoad(t *testing.T, m *Model) *Model {
	t.Helper()
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestCheckpointVariants(t *testing.T) {
	g := golden.Load(t, "gpt2")
	ids := golden.IDs(t, g, "input_ids")
	noPrefix, err := load(t, "model-noprefix").Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, g, "logits", noPrefix.Logits, golden.Tolerance)
	// bf16 weights are converted to float32 at load; the reference ran the same rounded weights.
	bf16, err := load(t, "model-bf16").Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, g, "bf16.logits", bf16.Logits, golden.Tolerance)
}

func TestSaveLoadRoundTrip(t *testing.T) {
	g := golden.Load(t, "gpt2")
	back := saveAndLoad(t, load(t, "model"))
	out, err := back.Forward(modeling.Batch{IDs: golden.IDs(t, g, "input_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, g, "logits", out.Logits, golden.Tolerance)
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"gpt2","n_embd":32,"n_layer":2,"n_head":4,"n_positions":64}`), 0o644)
	if _, err := Load(dir, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), `"vocab_size"`) {
		t.Errorf("config without vocab_size: err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"vocab_size":96,"n_embd":32,"n_layer":2,"n_head":4,"n_positions":64,"activation_function":"gelu_magic"}`), 0o644)
	if _, err := Load(dir, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), "gelu_magic") {
		t.Errorf("unknown activation: err = %v", err)
	}
	m := load(t, "model")
	long := [][]int32{make([]int32, m.Config.NPositions+1)}
	if _, err := m.Forward(modeling.Batch{IDs: long}, modeling.ForwardOptions{}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("prompt longer than the context: err = %v", err)
	}
	if _, err := m.Forward(modeling.Batch{IDs: [][]int32{{1, 2}, {3}}}, modeling.ForwardOptions{}); err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("ragged batch: err = %v", err)
	}
}

// TestUnusedTensors builds a one-layer model from the two-layer golden
// checkpoint: an error naming the second layer's tensors, unless the set
// allows unused tensors, when it loads and runs.
func TestUnusedTensors(t *testing.T) {
	dir := filepath.Join(golden.Dir("gpt2"), "model")
	cfg, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NLayer = 1
	set, err := weights.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, set, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), "tensors the config does not use") ||
		!strings.Contains(err.Error(), `h.1.attn.c_attn.weight"`) || !strings.Contains(err.Error(), "AllowUnused") {
		t.Fatalf("one layer from a two-layer checkpoint: err = %v", err)
	}
	set.AllowUnused = true
	m, err := New(cfg, set, golden.Backend(t))
	if err != nil {
		t.Fatalf("with AllowUnused: %v", err)
	}
	if _, err := m.Forward(modeling.Batch{IDs: [][]int32{{1, 2, 3}}}, modeling.ForwardOptions{}); err != nil {
		t.Fatal(err)
	}
}
