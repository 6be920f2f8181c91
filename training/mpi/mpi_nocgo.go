//go:build !cgo

package mpi

import "errors"

// errNoCgo is every call's error in a build without cgo, which cannot load
// Open MPI's library.
var errNoCgo = errors.New("mpi: this program was built without cgo (CGO_ENABLED=0), so it cannot load Open MPI: build it with cgo; " + installHint)

// Init returns an error: without cgo, Open MPI cannot be loaded.
func Init() (*World, error) { return nil, errNoCgo }

// AllReduceSum returns an error: without cgo there is no MPI.
func (w *World) AllReduceSum(data []float32) error { return errNoCgo }

// Broadcast returns an error: without cgo there is no MPI.
func (w *World) Broadcast(data []float32, root int) error { return errNoCgo }

// Barrier returns an error: without cgo there is no MPI.
func (w *World) Barrier() error { return errNoCgo }

// Finalize does nothing on a nil World (a process alone), and returns an
// error otherwise: without cgo there is no MPI.
func (w *World) Finalize() error {
	if w == nil {
		return nil
	}
	return errNoCgo
}
