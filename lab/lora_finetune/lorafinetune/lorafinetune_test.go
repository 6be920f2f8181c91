package lorafinetune

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/training/lora"
	"github.com/trustformers/trustformers-go/xla"
)

// TestShortRunLowersValidationLoss fine-tunes stories260K for 40 iterations
// on the go backend: the validation loss must fall, the forbidden tokens
// lose probability, and the run folder holds the adapters, which load back
// onto a fresh model.
func TestShortRunLowersValidationLoss(t *testing.T) {
	c := DefaultConfig()
	c.Model = assets.Require(t, assets.Stories260K)
	c.TrainSeqs, c.ValSeqs, c.SeqLen, c.Iters, c.EvalInterval, c.BatchSize = 256, 32, 32, 40, 20, 8
	c.Backend = "go"
	res, err := Train(c, t.TempDir(), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("val loss %.4f -> %.4f (floor %.4f); forbidden tokens %v: %.1f%% -> %.1f%%",
		res.Before, res.After, res.Floor, res.Banned, 100*res.MassBefore, 100*res.MassAfter)
	if !(res.After < res.Before-0.02) || !(res.Floor < res.Before) {
		t.Errorf("validation loss %.4f -> %.4f (floor %.4f): fine-tuning does not lower it", res.Before, res.After, res.Floor)
	}
	if !(res.MassAfter < 0.75*res.MassBefore) {
		t.Errorf("forbidden tokens' probability %.3f -> %.3f: the rule is not learned", res.MassBefore, res.MassAfter)
	}
	for _, f := range []string{"config.json", "env.json", "metrics.jsonl", "report.html", "adapter/" + lora.ConfigFile, "adapter/" + lora.WeightsFile} {
		if _, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
			t.Errorf("run folder lacks %s", f)
		}
	}
	backend, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	m, err := llama.LoadLlama2C(c.Model, backend)
	if err != nil {
		t.Fatal(err)
	}
	a, err := lora.Load(m.Params(), filepath.Join(res.Dir, "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.Modules()); n != 35 {
		t.Errorf("%d modules loaded, want 35 (7 projections × 5 layers)", n)
	}
}

// TestQLoRA fine-tunes adapters on an NF4-quantized stories260K (double
// quantization): the validation loss must fall, and the saved adapters,
// loaded onto a freshly quantized base, give the same validation loss.
func TestQLoRA(t *testing.T) {
	c := DefaultConfig()
	c.Model = assets.Require(t, assets.Stories260K)
	c.TrainSeqs, c.ValSeqs, c.SeqLen, c.Iters, c.EvalInterval, c.BatchSize = 256, 32, 32, 40, 20, 8
	c.Backend = "go"
	c.Quant, c.DoubleQuant = "nf4", true
	res, err := Train(c, t.TempDir(), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QLoRA (nf4 g%d, double quantization): val loss %.4f -> %.4f; forbidden tokens %.1f%% -> %.1f%%",
		c.QuantGroup, res.Before, res.After, 100*res.MassBefore, 100*res.MassAfter)
	if !(res.After < res.Before-0.02) {
		t.Errorf("validation loss %.4f -> %.4f: QLoRA fine-tuning does not lower it", res.Before, res.After)
	}
	backend, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	m, err := llama.LoadLlama2C(c.Model, backend)
	if err != nil {
		t.Fatal(err)
	}
	if err := quantizeBase(m, c); err != nil {
		t.Fatal(err)
	}
	if _, err := lora.Load(m.Params(), filepath.Join(res.Dir, "adapter")); err != nil {
		t.Fatal(err)
	}
	got, err := evaluate(m.Decoder, rule{temperature: 1}, res.Val, c.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got[0]-res.After) > 1e-4 {
		t.Errorf("adapters loaded onto a fresh NF4 base: val loss %.6f, the trained model's %.6f", got[0], res.After)
	}
}

func TestMostUsed(t *testing.T) {
	rows := [][]int32{{1, 5, 5, 7, 9, 9, 9}, {1, 7, 3, 2, 2, 2, 2}}
	got := mostUsed(rows, 2, 1, 2)
	if len(got) != 2 || got[0] != 5 || got[1] != 9 {
		t.Errorf("mostUsed = %v, want [5 9] (9 thrice, then 5 and 7 twice: the lower id; 1 and 2 skipped)", got)
	}
}
