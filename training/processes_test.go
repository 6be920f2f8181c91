package training

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/training/mpi"
	"github.com/trustformers/trustformers-go/xla"
)

// Under mpirun the test binary is started again as the job's processes:
// processesWorker's mode ("run", "kill" or "resume") and its folder come
// through these variables.
const (
	workerModeEnv = "TRAINING_MPI_WORKER"
	workerDirEnv  = "TRAINING_MPI_DIR"
)

// processesLoop is the run both sides train: a tiny GPT-2 over 8
// iterations, batches of 4 rows (2 per process), evaluations after 0, 4
// and 8 steps with a checkpoint each; accumulate micro-batches per step.
func processesLoop(t *testing.T, dir string, accumulate int) (*Loop, *[]Metrics) {
	l, _, _ := dropoutRun(t, 0, 3, dir)
	l.Accumulate = accumulate
	var seen []Metrics
	l.Callbacks = []Callback{CallbackFunc(func(m Metrics) { seen = append(seen, m) })}
	return l, &seen
}

// accumulateOf is the gradient accumulation of each worker mode: the
// killed run takes two micro-batches a step, so that both paths of a step
// across processes are tested.
func accumulateOf(mode string) int {
	if mode == "run" {
		return 1
	}
	return 2
}

// TestProcessesMatchOneProcess trains with two processes under mpirun,
// each on half of every batch, and checks that the losses are the ones one
// process gets on the whole batches.
func TestProcessesMatchOneProcess(t *testing.T) {
	if mode := os.Getenv(workerModeEnv); mode != "" {
		processesWorker(t, mode, os.Getenv(workerDirEnv))
		return
	}
	want := oneProcess(t, 1)
	out, err := runProcesses(t, "TestProcessesMatchOneProcess", "run", t.TempDir())
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	for rank := range 2 { // half of each batch of 4
		if want := fmt.Sprintf("rank %d trained and evaluated on at most 2 rows", rank); !bytes.Contains(out, []byte(want)) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	sameMetrics(t, parseMetrics(t, out), want)
}

// TestProcessesKilledAndResumed kills one of two processes (SIGKILL)
// after step 6, two steps past the checkpoint of step 4, and resumes the
// job: the resumed losses are the uninterrupted run's.
func TestProcessesKilledAndResumed(t *testing.T) {
	if mode := os.Getenv(workerModeEnv); mode != "" {
		processesWorker(t, mode, os.Getenv(workerDirEnv))
		return
	}
	want := oneProcess(t, 2)
	dir := t.TempDir()
	out, err := runProcesses(t, "TestProcessesKilledAndResumed", "kill", dir)
	if err == nil {
		t.Fatalf("mpirun with a process killed succeeded:\n%s", out)
	}
	killed := parseMetrics(t, out)
	out, err = runProcesses(t, "TestProcessesKilledAndResumed", "resume", dir)
	if err != nil {
		t.Fatalf("resuming under mpirun: %v\n%s", err, out)
	}
	resumed := parseMetrics(t, out)
	if len(resumed) == 0 || resumed[0].Step != 4 || resumed[0].Split != "train" {
		t.Fatalf("the resumed run began with %+v; want the training step 4 after the checkpoint of step 4", resumed)
	}
	at := len(want) - len(resumed)
	if at < 0 || len(killed) < at {
		t.Fatalf("killed run reported %d, resumed %d, uninterrupted %d", len(killed), len(resumed), len(want))
	}
	sameMetrics(t, append(killed[:at:at], resumed...), want)
}

// TestShardedProcessesMatchOneDevice runs two processes under mpirun, each
// fully sharding its copy over two host devices of XLA's CPU plugin: the
// losses of 4 steps on batches of 8 rows (4 per process, 2 per device) are
// one device's on the whole batches.
func TestShardedProcessesMatchOneDevice(t *testing.T) {
	if os.Getenv(workerModeEnv) != "" {
		shardedWorker(t)
		return
	}
	b := shardtest.HostDevices(t, 2)
	_, tr := smallGPT(t, b)
	want := train(t, tr, batches(4), 0)
	out, err := runProcesses(t, "TestShardedProcessesMatchOneDevice", "sharded", t.TempDir())
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	got := parseMetrics(t, out)
	if len(got) != len(want) {
		t.Fatalf("%d losses from the job, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if math.Abs(got[i].Loss-want[i]) > shardtest.Tolerance {
			t.Errorf("step %d: loss %.7f over 2 processes × 2 devices, one device gives %.7f", i, got[i].Loss, want[i])
		}
	}
}

// shardedWorker is one process of TestShardedProcessesMatchOneDevice's job.
func shardedWorker(t *testing.T) {
	w, err := mpi.Join()
	if err != nil || w == nil {
		t.Fatalf("joining the MPI job: %v, %v", w, err)
	}
	b := shardtest.HostDevices(t, 2)
	_, tr := smallGPT(t, b)
	shardTrainer(t, tr, b, modeling.FullyShard, xla.MeshAxis{Name: xla.AxisData, Size: 2})
	if err := tr.SetProcesses(w); err != nil {
		t.Fatal(err)
	}
	for i, loss := range train(t, tr, batches(4), 0) {
		if w.Rank() == 0 {
			fmt.Printf("metrics %d train %s\n", i, strconv.FormatFloat(loss, 'g', -1, 64))
		}
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
}

// oneProcess returns the metrics of the run in this process alone, on
// whole batches.
func oneProcess(t *testing.T, accumulate int) []Metrics {
	l, seen := processesLoop(t, t.TempDir(), accumulate)
	if _, err := l.Run(false); err != nil {
		t.Fatal(err)
	}
	return *seen
}

// runProcesses runs test in mode as two processes under mpirun and returns
// their output.
func runProcesses(t *testing.T, test, mode, dir string) ([]byte, error) {
	cmd, err := mpi.Command(2, os.Args[0], "-test.run", "^"+test+"$")
	if err != nil {
		t.Fatal(err) // a missing mpirun fails: make setup installs it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	run.Env = append(cmd.Env, workerModeEnv+"="+mode, workerDirEnv+"="+dir)
	return run.CombinedOutput()
}

// processesWorker is one process of the job: it joins it, trains the loop
// and prints rank 0's metrics. In mode "kill" rank 1 kills itself after
// step 6; "resume" continues from the checkpoint in dir.
func processesWorker(t *testing.T, mode, dir string) {
	w, err := mpi.Join()
	if err != nil || w == nil {
		t.Fatalf("joining the MPI job: %v, %v", w, err)
	}
	l, _ := processesLoop(t, dir, accumulateOf(mode))
	l.Checkpoint = filepath.Join(dir, "last.safetensors")
	if err := l.Trainer.SetProcesses(w); err != nil {
		t.Fatal(err)
	}
	rows, loss := 0, l.Trainer.Loss
	l.Trainer.Loss = func(g *Graph, batch []*Node) *Node {
		rows = max(rows, batch[0].Shape().Dimensions[0])
		return loss(g, batch)
	}
	l.Callbacks = []Callback{CallbackFunc(func(m Metrics) {
		if w.Rank() == 0 {
			fmt.Printf("metrics %d %s %s\n", m.Step, m.Split, strconv.FormatFloat(m.Loss, 'g', -1, 64))
		}
		if mode == "kill" && w.Rank() == 1 && m.Split == "train" && m.Step == 6 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	})}
	if _, err := l.Run(mode == "resume"); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rank %d trained and evaluated on at most %d rows\n", w.Rank(), rows)
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
}

// parseMetrics reads the "metrics STEP SPLIT LOSS" lines of out.
func parseMetrics(t *testing.T, out []byte) []Metrics {
	var ms []Metrics
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "metrics" {
			continue
		}
		step, err1 := strconv.Atoi(f[1])
		loss, err2 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad metrics line %q", sc.Text())
		}
		ms = append(ms, Metrics{Step: step, Split: f[2], Loss: loss})
	}
	return ms
}

// sameMetrics checks that got reports the steps and splits of want, with
// losses within 1e-5.
func sameMetrics(t *testing.T, got, want []Metrics) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d reports, want %d:\ngot  %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Step != w.Step || g.Split != w.Split || !(math.Abs(g.Loss-w.Loss) <= 1e-5) {
			t.Errorf("report %d: %s loss %.7f after step %d, want %s %.7f after step %d", i, g.Split, g.Loss, g.Step, w.Split, w.Loss, w.Step)
		}
	}
}
