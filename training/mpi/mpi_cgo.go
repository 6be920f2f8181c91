//go:build cgo

package mpi

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// Open MPI's handles are pointers to its predefined objects, found by name
// (MPI_COMM_WORLD is &ompi_mpi_comm_world, and so on); MPI_IN_PLACE is 1.
typedef struct {
	void *lib, *world, *float32, *sum;
	int (*init_thread)(int *, char ***, int, int *);
	int (*initialized)(int *);
	int (*finalized)(int *);
	int (*comm_rank)(void *, int *);
	int (*comm_size)(void *, int *);
	int (*allreduce)(const void *, void *, int, void *, void *, void *);
	int (*bcast)(void *, int, void *, int, void *);
	int (*barrier)(void *);
	int (*finalize)(void);
	int (*error_string)(int, char *, int *);
} tf_mpi;

static tf_mpi M;

// tf_mpi_open loads Open MPI; it returns the name of what was missing, or
// NULL. RTLD_GLOBAL: Open MPI's own plugins resolve symbols of libmpi.
static const char *tf_mpi_open(void) {
	if (M.lib) return NULL;
	void *lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
	if (!lib) lib = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL);
	if (!lib) return "libmpi.so.40";
#define SYM(field, name) if (!(*(void **)(&M.field) = dlsym(lib, name))) return name;
	SYM(world, "ompi_mpi_comm_world")
	SYM(float32, "ompi_mpi_float")
	SYM(sum, "ompi_mpi_op_sum")
	SYM(init_thread, "MPI_Init_thread")
	SYM(initialized, "MPI_Initialized")
	SYM(finalized, "MPI_Finalized")
	SYM(comm_rank, "MPI_Comm_rank")
	SYM(comm_size, "MPI_Comm_size")
	SYM(allreduce, "MPI_Allreduce")
	SYM(bcast, "MPI_Bcast")
	SYM(barrier, "MPI_Barrier")
	SYM(finalize, "MPI_Finalize")
	SYM(error_string, "MPI_Error_string")
#undef SYM
	M.lib = lib;
	return NULL;
}

// MPI_THREAD_SERIALIZED: any thread may call, one at a time (Go moves
// goroutines between threads; the Go side holds a lock around each call).
static int tf_mpi_init(int *rank, int *size) {
	int done = 0, provided = 0, rc;
	if ((rc = M.initialized(&done)) != 0) return rc;
	if (!done && (rc = M.init_thread(NULL, NULL, 2, &provided)) != 0) return rc;
	if ((rc = M.comm_rank(M.world, rank)) != 0) return rc;
	return M.comm_size(M.world, size);
}

static int tf_mpi_allreduce_sum(float *data, int n) { return M.allreduce((void *)1, data, n, M.float32, M.sum, M.world); }
static int tf_mpi_bcast(float *data, int n, int root) { return M.bcast(data, n, M.float32, root, M.world); }
static int tf_mpi_barrier(void) { return M.barrier(M.world); }

static int tf_mpi_finalize(void) {
	int done = 0;
	M.finalized(&done);
	return done ? 0 : M.finalize();
}

static void tf_mpi_error(int code, char *buf, int *len) {
	if (M.error_string(code, buf, len) != 0) *len = 0;
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// mu serializes the calls into MPI (initialized for MPI_THREAD_SERIALIZED).
var mu sync.Mutex

// Init opens Open MPI's library, initializes MPI (once per process) and
// returns this process's World.
func Init() (*World, error) {
	mu.Lock()
	defer mu.Unlock()
	if missing := C.tf_mpi_open(); missing != nil {
		return nil, fmt.Errorf("mpi: Open MPI's library lacks %s: %s", C.GoString(missing), installHint)
	}
	var rank, size C.int
	if err := check("MPI_Init_thread", C.tf_mpi_init(&rank, &size)); err != nil {
		return nil, err
	}
	return &World{rank: int(rank), size: int(size)}, nil
}

// maxCount is the most elements one MPI call moves (its count is an int).
const maxCount = 1 << 30

// AllReduceSum replaces data, in every process, by its element-wise sum
// over all processes. Every process must call it with as many elements.
func (w *World) AllReduceSum(data []float32) error {
	mu.Lock()
	defer mu.Unlock()
	for len(data) > 0 {
		n := min(len(data), maxCount)
		if err := check("MPI_Allreduce", C.tf_mpi_allreduce_sum((*C.float)(unsafe.Pointer(&data[0])), C.int(n))); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Broadcast replaces data, in every process, by the root process's.
func (w *World) Broadcast(data []float32, root int) error {
	if root < 0 || root >= w.size {
		return fmt.Errorf("mpi: broadcast from rank %d of %d processes", root, w.size)
	}
	mu.Lock()
	defer mu.Unlock()
	for len(data) > 0 {
		n := min(len(data), maxCount)
		if err := check("MPI_Bcast", C.tf_mpi_bcast((*C.float)(unsafe.Pointer(&data[0])), C.int(n), C.int(root))); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Barrier returns when every process has called it.
func (w *World) Barrier() error {
	mu.Lock()
	defer mu.Unlock()
	return check("MPI_Barrier", C.tf_mpi_barrier())
}

// Finalize ends MPI in this process; no call may follow. On a nil World
// it does nothing.
func (w *World) Finalize() error {
	if w == nil {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	return check("MPI_Finalize", C.tf_mpi_finalize())
}

// check turns an MPI error code into an error naming the call.
func check(call string, code C.int) error {
	if code == 0 {
		return nil
	}
	buf := make([]byte, 1024) // MPI_MAX_ERROR_STRING is 256 in Open MPI
	var n C.int
	C.tf_mpi_error(code, (*C.char)(unsafe.Pointer(&buf[0])), &n)
	return fmt.Errorf("mpi: %s: error %d: %s", call, int(code), string(buf[:max(0, min(int(n), len(buf)))]))
}
