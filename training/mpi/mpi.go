// Package mpi joins the processes that Open MPI's mpirun starts, with the
// few collective calls that data-parallel training across processes needs:
// the rank and size of the job, an in-place all-reduce (sum) of float32s,
// a broadcast from one rank and a barrier. training.Trainer.SetProcesses
// takes a *World.
//
// Open MPI's library is opened at run time (dlopen of libmpi.so.40, the
// soname of Open MPI 3, 4 and 5), so building this package needs no MPI
// headers, and a program that never calls Init runs on a machine without
// Open MPI; Init then says to install it (`make setup` does: Debian's
// openmpi-bin, which brings the library, libopenmpi3). Without cgo every
// call returns that error.
//
//	go build -o shakespeare_char ./lab/shakespeare_char
//	mpirun --oversubscribe -np 2 ./shakespeare_char -iters 100
package mpi

import (
	"fmt"
	"os"
	"strconv"
)

// World is this process's place in an MPI job: its rank among Size
// processes. Its calls may come from any goroutine, one at a time.
type World struct {
	rank, size int
}

// Rank returns this process's rank, 0 … Size-1 (0 for a nil World: a
// process alone).
func (w *World) Rank() int {
	if w == nil {
		return 0
	}
	return w.rank
}

// Size returns the number of processes in the job (1 for a nil World).
func (w *World) Size() int {
	if w == nil {
		return 1
	}
	return w.size
}

// Launched reports whether mpirun started this process (Open MPI sets
// OMPI_COMM_WORLD_SIZE in each process it starts).
func Launched() bool { return os.Getenv("OMPI_COMM_WORLD_SIZE") != "" }

// Join returns the MPI job this process belongs to: Init's World when
// mpirun started it, nil when it runs alone (a nil World's Rank is 0, its
// Size 1 and its Finalize does nothing). A torchrun-style WORLD_SIZE
// above 1 outside mpirun is an error rather than several processes each
// training alone: their gradients travel through MPI, which only mpirun
// starts here.
func Join() (*World, error) {
	if !Launched() {
		if n, err := strconv.Atoi(os.Getenv("WORLD_SIZE")); err == nil && n > 1 {
			return nil, fmt.Errorf("mpi: WORLD_SIZE=%d is set but mpirun did not start this process: start the %d processes with `mpirun -np %d ...` (Open MPI)", n, n, n)
		}
		return nil, nil
	}
	w, err := Init()
	if err != nil {
		return nil, err
	}
	if err := w.checkTorchrunEnv(); err != nil {
		return nil, err
	}
	return w, nil
}

// checkTorchrunEnv refuses RANK and WORLD_SIZE that disagree with MPI's own
// rank and size (a launcher wrapped in another).
func (w *World) checkTorchrunEnv() error {
	for _, kv := range []struct {
		name string
		want int
	}{{"RANK", w.rank}, {"WORLD_SIZE", w.size}} {
		s := os.Getenv(kv.name)
		if s == "" {
			continue
		}
		if n, err := strconv.Atoi(s); err != nil || n != kv.want {
			return fmt.Errorf("mpi: %s=%s disagrees with MPI's %d", kv.name, s, kv.want)
		}
	}
	return nil
}

// installHint ends the errors of a missing Open MPI.
const installHint = "install Open MPI (`make setup` does: Debian's openmpi-bin, which brings libopenmpi3) and start the processes with mpirun"
