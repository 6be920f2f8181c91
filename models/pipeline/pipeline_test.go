package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
)

func TestMismatchedModelAndTask(t *testing.T) {
	b := golden.Backend(t)
	bertMLM := filepath.Join(golden.Dir("bert"), "model")
	gpt2 := filepath.Join(golden.Dir("gpt2"), "pipeline")
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"generation on BERT", func() error { _, err := NewTextGeneration(bertMLM, b); return err }, "causal language model"},
		{"fill-mask on GPT-2", func() error { _, err := NewFillMask(gpt2, b); return err }, "needs a BERT model"},
		{"classification on masked-LM", func() error { _, err := NewTextClassification(bertMLM, b); return err }, "sequence-classification"},
		{"QA on a classifier", func() error {
			_, err := NewQuestionAnswering(filepath.Join(golden.Dir("bert"), "seqcls"), b)
			return err
		}, "question-answering"},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want one saying %q", tc.name, err, tc.want)
		}
	}
}

func TestFillMaskWithoutMask(t *testing.T) {
	p, err := NewFillMask(filepath.Join(golden.Dir("bert"), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run("no mask here", 3); err == nil || !strings.Contains(err.Error(), "[MASK]") {
		t.Fatalf("text without a mask: err = %v", err)
	}
}
