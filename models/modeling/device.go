package modeling

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// MoveToDevice transfers every weight to the backend's device and drops the
// host copies, so that a loaded model holds its weights once, not twice.
// (Reading a weight later, to save it, copies it back.)
func (p *Params) MoveToDevice(backend compute.Backend) error {
	// One goroutine per core: the copies into fresh device memory are bound
	// by page faults, which the cores take in parallel.
	names := p.Names()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				errs[i] = p.moveOne(backend, names[i])
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	runtime.GC()
	debug.FreeOSMemory()
	return errors.Join(errs...)
}

// Free releases every weight's memory, host and device, now rather than
// when Go's collector runs the finalizers (ONNX Runtime's buffers are C
// memory the collector does not see: left to it, a discarded model slowed
// the next one). Params and their model must not be used afterwards.
func (p *Params) Free() {
	// Every variable of the Store, a trainer's moments included; Reset
	// frees a sharded value's shards without gathering them first.
	for v := range p.Store.IterVariables() {
		_ = v.Reset()
	}
}

// stored returns the variables holding weight name: one, or its blocks of
// rows (SplitRows).
func (p *Params) stored(name string) []*model.Variable {
	if v, ok := p.vars[name]; ok {
		return []*model.Variable{v}
	}
	return p.blocks[name]
}

// moveOne moves weight name to backend's device and drops its host copy.
func (p *Params) moveOne(backend compute.Backend, name string) error {
	for _, v := range p.stored(name) {
		if err := moveVariable(backend, name, v); err != nil {
			return err
		}
	}
	return nil
}

// moveVariable moves v, a variable of weight name, to backend's device and
// drops its host copy.
func moveVariable(backend compute.Backend, name string, v *model.Variable) error {
	t, err := v.Value()
	if err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	if err := toDevice(t, backend); err != nil {
		return fmt.Errorf("weight %q: moving to %s: %w", name, backend.Name(), err)
	}
	return nil
}

// toDevice moves t to backend's device and drops its host copy. Where the
// backend shares memory with the host (both CPU engines), t is copied once
// into memory the backend allocates: GoMLX's ONNX Runtime backend keeps the
// slice a non-shared buffer was made from besides its own copy, which held
// every weight twice.
func toDevice(t *tensors.Tensor, backend compute.Backend) error {
	if err := t.MaterializeOnDevice(backend, backend.HasSharedBuffers(), 0); err != nil {
		return err
	}
	t.FinalizeLocal()
	return nil
}
