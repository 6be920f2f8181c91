package decodetest

import (
	"fmt"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// CheckGolden compares a decoder with the golden outputs of family that
// scripts/reference writes with a Hugging Face class: the full forward
// (logits, hidden states, attentions), a right-padded batch, KV-cache
// steps, and a left-padded batch with the positions Hugging Face's
// generate() gives it. It logs the largest difference of each.
func CheckGolden(t *testing.T, family string, d *modeling.Decoder) {
	t.Helper()
	g := golden.Load(t, family)
	ids := golden.IDs(t, g, "input_ids")
	out, err := d.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{HiddenStates: true, Attentions: true})
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
	padded, err := d.Forward(modeling.Batch{IDs: ids, AttentionMask: right}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["padded"] = golden.CheckMasked(t, g, "padded.logits", padded.Logits, right, golden.Tolerance)
	r["kv"] = golden.Check(t, g, "kv.step_logits", StepThrough(t, d, ids, golden.Int(t, g, "kv.prefix_len")), golden.Tolerance)
	mask := golden.IDs(t, g, "leftpad.attention_mask")
	left, err := d.Forward(modeling.Batch{IDs: golden.IDs(t, g, "leftpad.input_ids"), AttentionMask: mask,
		PositionIDs: golden.IDs(t, g, "leftpad.position_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["leftpad"] = golden.CheckMasked(t, g, "leftpad.logits", left.Logits, mask, golden.Tolerance)
	t.Logf("%s: max |diff| against Hugging Face's own class: %s", family, r)
}
