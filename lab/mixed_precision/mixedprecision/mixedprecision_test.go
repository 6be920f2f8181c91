package mixedprecision

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/lab/shakespeare_char/shakespeare"
)

// TestMeasure trains a small model a few steps in float32 and bfloat16 on
// the go backend: bfloat16 products must track the float32 losses closely,
// and each precision gets a run folder.
func TestMeasure(t *testing.T) {
	c := Config{Model: shakespeare.Model{Data: assets.Require(t, assets.TinyShakespeare), BatchSize: 4, BlockSize: 32,
		NLayer: 1, NHead: 2, NEmbd: 32, LR: 1e-3, MinLR: 1e-4, WarmupIters: 2, Seed: 3, Backend: "go"}, Iters: 6, EvalIters: 2}
	runs := t.TempDir()
	res, err := Measure(c, []string{"float32", "bfloat16"}, runs, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Precision != "float32" || res[1].Precision != "bfloat16" {
		t.Fatalf("results %+v", res)
	}
	f, b := res[0], res[1]
	t.Logf("float32 %v, bfloat16 %v", f.TrainLosses, b.TrainLosses)
	if math.Abs(f.ValBefore-b.ValBefore) > 0.01 {
		t.Errorf("validation loss before training: float32 %.4f, bfloat16 %.4f", f.ValBefore, b.ValBefore)
	}
	for i := range f.TrainLosses {
		if math.Abs(f.TrainLosses[i]-b.TrainLosses[i]) > 0.01 {
			t.Errorf("step %d: float32 loss %.4f, bfloat16 %.4f", i, f.TrainLosses[i], b.TrainLosses[i])
		}
	}
	if f.TrainLosses[0] == b.TrainLosses[0] && f.ValAfter == b.ValAfter {
		t.Errorf("bfloat16 gave exactly the float32 losses: the products did not run in bfloat16")
	}
	for _, r := range res {
		if _, err := os.Stat(filepath.Join(r.Dir, "report.html")); err != nil {
			t.Errorf("%s: %v", r.Precision, err)
		}
	}
	cmp, err := lab.Compare(filepath.Join(runs, "mixed_precision"))
	if err != nil {
		t.Fatal(err)
	}
	if d := strings.Join(cmp.Differences, ","); d != "precision" && !strings.HasPrefix(d, "precision,env.") {
		t.Errorf("the two run folders differ in %v, want only precision", cmp.Differences)
	}
	if _, err := Measure(c, []string{"float8"}, runs, io.Discard); err == nil || !strings.Contains(err.Error(), `precision "float8"`) {
		t.Errorf("unknown precision: err = %v", err)
	}
	var stderr bytes.Buffer
	if err := Run([]string{"-bogus"}, io.Discard, &stderr); lab.ExitCode(err) != 2 {
		t.Errorf("-bogus: %v", err)
	}
}
