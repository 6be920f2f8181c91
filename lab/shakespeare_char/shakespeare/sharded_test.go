package shakespeare

import (
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/lab"
)

// TestShardedRunResumesOnAnotherMesh trains 8 iterations with ZeRO-2 over
// two host devices, stopped after 4 and resumed with `-resume DIR -mesh
// data=4 -strategy fsdp`: config.json records the layout it started with,
// and every loss equals an uninterrupted run's on one device (1e-5).
func TestShardedRunResumesOnAnotherMesh(t *testing.T) {
	shardtest.HostDevices(t, 4) // skips without XLA's CPU plugin
	c := Config{Model: Model{Data: assets.Require(t, assets.TinyShakespeare), BatchSize: 4, BlockSize: 16, NLayer: 1,
		NHead: 2, NEmbd: 32, LR: 1e-3, MinLR: 1e-4, WarmupIters: 2, Seed: 3, Backend: "xla:cpu"}, Iters: 8, EvalInterval: 4,
		EvalIters: 1, DecayIters: 8, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, SampleTokens: 4}
	whole := t.TempDir()
	if err := Train(c, whole, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	c.Backend, c.StopAfter = "", 4
	c.Parallel = lab.Parallel{Mesh: "data=2", Strategy: "zero2"}
	if err := Train(c, split, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(split, "shakespeare_char", "*"))
	var saved Config
	if err := lab.ReadConfig(dirs[0], &saved); err != nil {
		t.Fatal(err)
	}
	if saved.Mesh != "data=2" || saved.Strategy != "zero2" || saved.Backend != "xla:cpu,devices=2" {
		t.Errorf("config.json records mesh %q, strategy %q, backend %q; want data=2, zero2, xla:cpu,devices=2", saved.Mesh, saved.Strategy, saved.Backend)
	}
	if err := Run([]string{"-resume", dirs[0], "-mesh", "data=4", "-strategy", "fsdp"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, b := readLosses(t, whole), readLosses(t, split)
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("uninterrupted run logged %d losses, the resumed one %d", len(a), len(b))
	}
	for i := range a {
		if lossOf(t, a[i])-lossOf(t, b[i]) > 1e-5 || lossOf(t, b[i])-lossOf(t, a[i]) > 1e-5 || !sameMetric(a[i], b[i]) {
			t.Errorf("metric %d: %q on one device, %q on zero2 over data=2 resumed as fsdp over data=4", i, a[i], b[i])
		}
	}
}

// lossOf reads the loss of a readLosses line ("step split loss").
func lossOf(t *testing.T, line string) float64 {
	t.Helper()
	f := strings.Fields(line)
	v, err := strconv.ParseFloat(f[len(f)-1], 64)
	if err != nil || math.IsNaN(v) {
		t.Fatalf("line %q: %v", line, err)
	}
	return v
}

// sameMetric reports whether two readLosses lines are of the same step and split.
func sameMetric(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	return fa[0] == fb[0] && fa[1] == fb[1]
}
