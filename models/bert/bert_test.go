package bert

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

func load(t *testing.T, folder string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir("bert"), folder), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func batch(t *testing.T) modeling.Batch {
	g := golden.Load(t, "bert")
	return modeling.Batch{IDs: golden.IDs(t, g, "input_ids"), TokenTypeIDs: golden.IDs(t, g, "token_type_ids"),
		AttentionMask: golden.IDs(t, g, "attention_mask")}
}

func TestEncoderAndMaskedLM(t *testing.T) {
	g := golden.Load(t, "bert")
	m := load(t, "model")
	if m.Head != MaskedLM {
		t.Fatalf("head %q, want masked-lm", m.Head)
	}
	out, err := m.Forward(batch(t), modeling.ForwardOptions{HiddenStates: true, Attentions: true})
	if err != nil {
		t.Fatal(err)
	}
	r := golden.Report{}
	r["sequence"] = golden.Check(t, g, "logits", out.Sequence, golden.Tolerance)
	r["pooled"] = golden.Check(t, g, "pooled", out.Pooled, golden.Tolerance)
	r["mlm"] = golden.Check(t, g, "mlm.logits", out.Logits, golden.Tolerance)
	for i, h := range out.HiddenStates {
		r["hidden"] = max(r["hidden"], golden.Check(t, g, fmt.Sprintf("hidden.%d", i), h, golden.Tolerance))
	}
	for i, a := range out.Attentions {
		r["attn"] = max(r["attn"], golden.Check(t, g, fmt.Sprintf("attn.%d", i), a, golden.Tolerance))
	}
	t.Logf("max |diff| against Hugging Face's BertModel and heads: %s", r)
}

func TestHeads(t *testing.T) {
	g := golden.Load(t, "bert")
	for _, tc := range []struct {
		folder string
		head   Head
	}{{"seqcls", SequenceClassification}, {"tokcls", TokenClassification}, {"qa", QuestionAnswering}, {"model-base", Base}} {
		m := load(t, tc.folder)
		if m.Head != tc.head {
			t.Fatalf("%s: head %q, want %q", tc.folder, m.Head, tc.head)
		}
		out, err := m.Forward(batch(t), modeling.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch tc.head {
		case SequenceClassification:
			golden.Check(t, g, "seqcls.logits", out.Logits, golden.Tolerance)
		case TokenClassification:
			golden.Check(t, g, "tokcls.logits", out.Logits, golden.Tolerance)
		case QuestionAnswering:
			golden.Check(t, g, "qa.start_logits", out.StartLogits, golden.Tolerance)
			golden.Check(t, g, "qa.end_logits", out.EndLogits, golden.Tolerance)
		case Base:
			golden.Check(t, g, "logits", out.Sequence, golden.Tolerance)
			golden.Check(t, g, "pooled", out.Pooled, golden.Tolerance)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	g := golden.Load(t, "bert")
	m := load(t, "qa")
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	out, err := back.Forward(batch(t), modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, g, "qa.start_logits", out.StartLogits, golden.Tolerance)
}

func TestTooLong(t *testing.T) {
	m := load(t, "model")
	ids := [][]int32{make([]int32, m.Config.MaxPositionEmbeddings+1)}
	if _, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("too long input: err = %v", err)
	}
}
