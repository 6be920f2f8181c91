package mpi

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// workerEnv makes the test binary, started by mpirun, one of the job's
// processes instead of the test's driver.
const workerEnv = "TRUSTFORMERS_MPI_TEST_WORKER"

// TestWorld runs two processes under mpirun: each sums, broadcasts and
// waits at a barrier, and prints what it got.
func TestWorld(t *testing.T) {
	if os.Getenv(workerEnv) != "" {
		worldWorker(t)
		return
	}
	cmd, err := Command(2, os.Args[0], "-test.run", "^TestWorld$", "-test.v")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cmd.Env, workerEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	for _, want := range []string{"rank 0 of 2: sum [3 30] broadcast [1 10]", "rank 1 of 2: sum [3 30] broadcast [1 10]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
}

func worldWorker(t *testing.T) {
	w, err := Join()
	if err != nil {
		t.Fatal(err)
	}
	if w == nil {
		t.Fatal("Join found no MPI job under mpirun")
	}
	r := float32(w.Rank() + 1)
	sum := []float32{r, 10 * r}
	if err := w.AllReduceSum(sum); err != nil {
		t.Fatal(err)
	}
	b := []float32{r, 10 * r}
	if err := w.Broadcast(b, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Barrier(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rank %d of %d: sum %v broadcast %v\n", w.Rank(), w.Size(), sum, b)
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
}

// TestJoinRefusesWorldSizeWithoutMPIRun: a torchrun-style launch is not
// silently several processes training alone.
func TestJoinRefusesWorldSizeWithoutMPIRun(t *testing.T) {
	if Launched() {
		t.Skip("running under mpirun")
	}
	t.Setenv("WORLD_SIZE", "2")
	w, err := Join()
	if err == nil || !strings.Contains(err.Error(), "mpirun -np 2") {
		t.Fatalf("Join() = %v, %v; want an error naming mpirun -np 2", w, err)
	}
	t.Setenv("WORLD_SIZE", "1")
	if w, err := Join(); w != nil || err != nil {
		t.Fatalf("WORLD_SIZE=1: Join() = %v, %v; want nil, nil", w, err)
	}
}
