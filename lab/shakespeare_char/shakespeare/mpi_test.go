package shakespeare

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/training/mpi"
)

// mpiWorkerEnv makes the test binary, started by mpirun, a process of the
// job: "train ROOT" trains into a new run folder under ROOT and stops after
// 10 iterations, "resume DIR" continues the run folder DIR.
const mpiWorkerEnv = "SHAKESPEARE_MPI_WORKER"

// TestTwoProcessesUnderMPIRun trains the experiment as two processes under
// mpirun, stopped halfway and resumed under mpirun again: one run folder,
// written by rank 0, recording 2 processes, with the losses of one process
// on the same global batches.
func TestTwoProcessesUnderMPIRun(t *testing.T) {
	c := Config{Model: Model{Data: assets.Require(t, assets.TinyShakespeare), BatchSize: 4, BlockSize: 32, NLayer: 1,
		NHead: 2, NEmbd: 32, LR: 1e-3, MinLR: 1e-4, WarmupIters: 2, Seed: 3, Backend: "go"}, Iters: 20, EvalInterval: 10,
		EvalIters: 2, DecayIters: 20, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, SampleTokens: 8}
	if job := os.Getenv(mpiWorkerEnv); job != "" {
		mode, path, _ := strings.Cut(job, " ")
		var err error
		if mode == "resume" {
			err = Resume(path, io.Discard, io.Discard)
		} else {
			c.StopAfter = 10
			err = Train(c, path, io.Discard, io.Discard)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	whole := t.TempDir()
	if err := Train(c, whole, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	runs := t.TempDir()
	mpiJob(t, "train "+runs)
	dirs, _ := filepath.Glob(filepath.Join(runs, "shakespeare_char", "*"))
	if len(dirs) != 1 {
		t.Fatalf("run folders after mpirun -np 2: %v, want one (rank 0's)", dirs)
	}
	mpiJob(t, "resume "+dirs[0])
	var saved Config
	if err := lab.ReadConfig(dirs[0], &saved); err != nil || saved.Processes != 2 {
		t.Errorf("config.json records %d processes (%v), want 2", saved.Processes, err)
	}
	a, b := readLosses(t, whole), readLosses(t, runs)
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("one process logged %d losses, two %d", len(a), len(b))
	}
	for i := range a {
		if !closeLoss(a[i], b[i]) {
			t.Errorf("metric %d: %q in one process, %q in two", i, a[i], b[i])
		}
	}
}

// mpiJob runs this test as two processes under mpirun, job naming their work.
func mpiJob(t *testing.T, job string) {
	t.Helper()
	cmd, err := mpi.Command(2, os.Args[0], "-test.run", "^TestTwoProcessesUnderMPIRun$")
	if err != nil {
		t.Fatal(err) // a missing mpirun fails: make setup installs it
	}
	cmd.Env = append(cmd.Env, mpiWorkerEnv+"="+job)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mpirun (%s): %v\n%s", job, err, out)
	}
}

// closeLoss reports whether two "step split loss" lines name the same
// report with losses within 1e-5.
func closeLoss(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) != 3 || len(fb) != 3 || fa[0] != fb[0] || fa[1] != fb[1] {
		return false
	}
	la, err1 := strconv.ParseFloat(fa[2], 64)
	lb, err2 := strconv.ParseFloat(fb[2], 64)
	return err1 == nil && err2 == nil && max(la-lb, lb-la) <= 1e-5
}
