package mamba

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// cases are the golden folders scripts/reference/goldens_mamba.py writes:
// a tied head with conv1d bias and time_step_rank "auto"; an untied head
// with in_proj/out_proj biases, no conv1d bias, time_step_rank 5,
// conv_kernel 3 and residual_in_fp32 false.
var cases = []string{"mamba", "mamba/untied"}

func load(t *testing.T, family string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
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
