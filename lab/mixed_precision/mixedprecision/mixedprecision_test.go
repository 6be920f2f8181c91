package mixedprecision

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// TestCopyComputesTheFamilysLoss checks that forward, at float32, is the
// gpt2 family's network: the same loss and the same gradient norm.
func TestCopyComputesTheFamilysLoss(t *testing.T) {
	backend, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	_, data, err := training.LoadCharDataset(assets.Require(t, assets.TinyShakespeare))
	if err != nil {
		t.Fatal(err)
	}
	x, y, _ := data.Batch(rand.New(rand.NewPCG(1, 1)), "train", 3, 16)
	var losses, norms []float64
	for _, copied := range []bool{false, true} {
		m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: 65, NPositions: 16, NEmbd: 32, NLayer: 2, NHead: 4}, 7, backend)
		if err != nil {
			t.Fatal(err)
		}
		loss := lossFunc(m, dtypes.Float32)
		if copied {
			loss = func(g *Graph, b []*Node) *Node { return training.CrossEntropy(forward(m, b[0], dtypes.Float32), b[1]) }
		}
		tr, err := training.NewTrainer(m.Params(), backend, loss, training.DefaultAdamW(), 0)
		if err != nil {
			t.Fatal(err)
		}
		l, norm, err := tr.Step(1e-3, x, y)
		if err != nil {
			t.Fatal(err)
		}
		losses, norms = append(losses, l), append(norms, norm)
	}
	if math.Abs(losses[0]-losses[1]) > 1e-6 || math.Abs(norms[0]-norms[1]) > 1e-5 {
		t.Fatalf("family: loss %.7f grad norm %.6f; copy: loss %.7f grad norm %.6f", losses[0], norms[0], losses[1], norms[1])
	}
}

// TestMeasure trains a small model a few steps in float32 and bfloat16 on
// the go backend: bfloat16 products must track the float32 losses closely,
// and each precision gets a run folder.
func TestMeasure(t *testing.T) {
	c := Config{Data: assets.Require(t, assets.TinyShakespeare), Iters: 6, EvalIters: 2, BatchSize: 4, BlockSize: 32,
		NLayer: 1, NHead: 2, NEmbd: 32, LR: 1e-3, MinLR: 1e-4, WarmupIters: 2, Seed: 3, Backend: "go"}
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
