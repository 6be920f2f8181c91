package modeling

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Spec names one weight a family expects and its shape in the checkpoint.
type Spec struct {
	Name string
	Dims []int
	// Transpose keeps a 2-D [in, out] checkpoint weight (GPT-2's Conv1D) as
	// [out, in], laid out once at load so that every matrix product
	// contracts the weights' last axis, the fast layout for decoding. Saving
	// transposes it back.
	Transpose bool
	// Role is what the weight does in the network (Whole unless set), which
	// sharding strategies split it by; projections that decoding multiplies
	// activations by (column- and row-parallel, the LM head) are laid out
	// in blocks of rows on engines that favour it (Engine.RowBlocks).
	Role Role
}

// Checkpoint says how the weights a network declares are found in a
// checkpoint's tensors.
type Checkpoint struct {
	// Name maps a declared weight's name to the checkpoint's (for prefixes
	// such as "transformer."); nil keeps it.
	Name func(string) string
	// Unread reports the checkpoint's tensors that are not weights of the
	// network (causal-mask buffers, rotary frequencies, a head tied to the
	// embedding). Any other tensor the network does not declare is an
	// error naming it (a config with fewer layers than its checkpoint, or
	// another model's file, would otherwise load silently), unless the
	// set's AllowUnused is on.
	Unread func(string) bool
	// Decoding lays out the weights for decoding: in blocks of rows where
	// the engine favours it (Engine.RowBlocks), for the weights whose role
	// multiplies activations (see SplitRows).
	Decoding bool
}

// LoadSpecsTo loads the weights that specs list from set into new Params on
// backend's device, as float32 (float16 and bfloat16 converted), after
// checking that set holds nothing else (see Checkpoint.Unread). It loads
// one weight at a time: each is read (a safetensors set reads it from its
// file then), laid out, moved to the device, and its host copies released
// before the next is read, so loading holds the weights about once, plus
// the tensor in flight. Tensors the set marks pending
// (weights.Set.AddPending) are only checked, and left for the caller. A
// missing tensor, a wrong shape or a NaN or infinite value (see
// weights.CheckFinite) is an error naming the file and tensor.
func LoadSpecsTo(backend compute.Backend, set *weights.Set, specs []Spec, ck Checkpoint) (*Params, error) {
	checkpointName := ck.Name
	if checkpointName == nil {
		checkpointName = func(n string) string { return n }
	}
	if err := checkUnused(set, specs, checkpointName, ck.Unread); err != nil {
		return nil, err
	}
	decoding := ck.Decoding
	split := map[string]bool{}
	if decoding && EngineOf(backend).RowBlocks {
		for _, s := range specs {
			split[s.Name] = s.Role.multiplies()
		}
	}
	p := NewParams()
	sinceGC := 0
	for _, s := range specs {
		if k, ok := set.Blocks(checkpointName(s.Name)); ok {
			if err := p.loadKept(backend, set, s, checkpointName(s.Name), k); err != nil {
				return nil, err
			}
			if sinceGC += k.Rows * k.Cols; sinceGC > 64<<20 {
				runtime.GC()
				sinceGC = 0
			}
			continue
		}
		if backend.HasSharedBuffers() {
			load := p.loadShared
			if split[s.Name] {
				load = p.loadSharedBlocks
			}
			done, err := load(backend, set, s, checkpointName)
			if err != nil {
				return nil, err
			}
			if done {
				continue
			}
		}
		if err := p.loadSpec(set, s, checkpointName); err != nil {
			return nil, err
		}
		v, ok := p.vars[s.Name]
		if !ok {
			continue // pending
		}
		sinceGC += int(v.Shape().ByteSize())
		var err error
		if split[s.Name] {
			err = p.splitRows(backend, GoRowBlockElements, []string{s.Name})
		}
		if v, ok := p.vars[s.Name]; ok && err == nil { // not split
			err = moveVariable(backend, s.Name, v)
		}
		if err != nil {
			return nil, err
		}
		// Release the host copies now rather than at the collector's pace
		// (it lets the heap grow to twice what is live).
		if sinceGC > 64<<20 {
			runtime.GC()
			sinceGC = 0
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	return p, nil
}

// loadShared reads weight s from set straight into memory that backend
// computes from (a shared buffer), laid out as s says: one copy from the
// page cache when set maps its file, or one transposing pass, and no host
// tensor between (a cell that loads GPT-2 124M spent half its load time in
// the read buffer and the host copy). It reports false, doing nothing, for
// a pending weight, which loadSpec checks.
func (p *Params) loadShared(backend compute.Backend, set *weights.Set, s Spec, checkpointName func(string) string) (bool, error) {
	name := checkpointName(s.Name)
	if _, ok := set.Pending(name); ok {
		return false, nil
	}
	dims := s.Dims
	if s.Transpose {
		if len(dims) != 2 {
			return false, fmt.Errorf("%s: transpose: shape %v is not 2-D", set.Where(name), dims)
		}
		dims = []int{s.Dims[1], s.Dims[0]}
	}
	shape := shapes.Make(dtypes.Float32, dims...)
	var t *tensors.Tensor
	var nonFinite error
	err := set.ViewFloat32(name, s.Dims, func(src []float32) error {
		if nonFinite = weights.CheckFinite(src); nonFinite != nil {
			return nonFinite
		}
		var err error
		if !s.Transpose {
			t, err = tensors.FromRaw(backend, 0, shape, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(src))), 4*len(src)))
			return err
		}
		if t, err = tensors.FromShapeForBackend(backend, 0, shape); err != nil {
			return err
		}
		if e := t.MutableFlatData(func(flat any) { err = transposeBlocked(src, flat.([]float32), s.Dims[0], s.Dims[1], set.Where(name)) }); e != nil {
			return e
		}
		return err
	})
	if nonFinite != nil {
		return false, fmt.Errorf("%s: %w", set.Where(name), nonFinite)
	}
	if err != nil {
		return false, fmt.Errorf("%s: onto %s: %w", set.Where(name), backend.Name(), err)
	}
	p.roles[s.Name] = s.Role
	if s.Transpose {
		p.transposed[s.Name] = true
	}
	return true, p.Set(s.Name, t)
}

// loadSharedBlocks is loadShared for a weight laid out in blocks of rows
// (see SplitRows): each block is written, transposed where s says, straight
// from the file's pages into its own shared buffer, in one pass. Read
// whole, transposed, split and moved instead, GPT-2 124M's weights were
// copied four times, most of the go engine's time to the first token. A
// weight too small to split is loaded whole.
func (p *Params) loadSharedBlocks(backend compute.Backend, set *weights.Set, s Spec, checkpointName func(string) string) (bool, error) {
	name := checkpointName(s.Name)
	if _, ok := set.Pending(name); ok || len(s.Dims) != 2 {
		return false, nil
	}
	rows, cols := s.Dims[0], s.Dims[1] // of the laid-out weight
	if s.Transpose {
		rows, cols = cols, rows
	}
	per := max(4, GoRowBlockElements/cols/4*4)
	if rows <= per {
		return p.loadShared(backend, set, s, checkpointName)
	}
	var blocks []*tensors.Tensor
	var nonFinite error
	err := set.ViewFloat32(name, s.Dims, func(src []float32) error {
		if nonFinite = weights.CheckFinite(src); nonFinite != nil {
			return nonFinite
		}
		for r := 0; r < rows; r += per {
			b, err := tensors.FromShapeForBackend(backend, 0, shapes.Make(dtypes.Float32, min(per, rows-r), cols))
			if err != nil {
				return err
			}
			blocks = append(blocks, b)
		}
		// One block per core at a time: first touching the blocks' fresh
		// pages costs more than the copy itself.
		return forEachParallel(len(blocks), func(i int) error {
			r, n := i*per, min(per, rows-i*per)
			var err error
			if e := blocks[i].MutableFlatData(func(flat any) {
				dst := flat.([]float32)
				// A fault reading the mapped file is this goroutine's own.
				err = weights.GuardFault(set.Where(name), func() error {
					if s.Transpose { // rows [r, r+n) of the transpose are columns [r, r+n) of src
						transposeColumns(src, dst, cols, rows, r, r+n)
					} else {
						copy(dst, src[r*cols:(r+n)*cols])
					}
					return nil
				})
			}); e != nil {
				return e
			}
			return err
		})
	})
	if nonFinite != nil {
		return false, fmt.Errorf("%s: %w", set.Where(name), nonFinite)
	}
	if err != nil {
		for _, b := range blocks {
			_ = b.FinalizeAll()
		}
		return false, fmt.Errorf("%s: onto %s: %w", set.Where(name), backend.Name(), err)
	}
	p.roles[s.Name] = s.Role
	if s.Transpose {
		p.transposed[s.Name] = true
	}
	return true, p.setBlocks(s.Name, blocks)
}

// forEachParallel runs fn(0) … fn(n-1) on up to GOMAXPROCS goroutines and
// returns the first error.
func forEachParallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := 0
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= n || first != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// transposeColumns writes columns [from, to) of the row-major [rows, cols]
// in as the rows of out ([to-from, rows]), tile by tile.
func transposeColumns(in, out []float32, rows, cols, from, to int) {
	const tile = 32
	for r0 := 0; r0 < rows; r0 += tile {
		r1 := min(r0+tile, rows)
		for c0 := from; c0 < to; c0 += tile {
			c1 := min(c0+tile, to)
			for r := r0; r < r1; r++ {
				row := in[r*cols : r*cols+cols]
				for c := c0; c < c1; c++ {
					out[(c-from)*rows+r] = row[c]
				}
			}
		}
	}
}

// loadSpec reads weight s from set into p, laid out as s says; a pending
// weight is only checked.
func (p *Params) loadSpec(set *weights.Set, s Spec, checkpointName func(string) string) error {
	p.roles[s.Name] = s.Role
	if dims, ok := set.Pending(checkpointName(s.Name)); ok {
		// Supplied after the model is built (quantized codes).
		if !slices.Equal(dims, s.Dims) {
			return fmt.Errorf("%s: shape %v, want %v", set.Where(checkpointName(s.Name)), dims, s.Dims)
		}
		return nil
	}
	t, err := set.Float32(checkpointName(s.Name), s.Dims...)
	if err != nil {
		return err
	}
	var nonFinite error
	if err := t.ConstFlatData(func(flat any) { nonFinite = weights.CheckFinite(flat.([]float32)) }); err != nil {
		return fmt.Errorf("%s: %w", set.Where(checkpointName(s.Name)), err)
	}
	if nonFinite != nil {
		return fmt.Errorf("%s: %w", set.Where(checkpointName(s.Name)), nonFinite)
	}
	if s.Transpose {
		read := t
		if t, err = Transpose2D(t); err != nil {
			return fmt.Errorf("%s: %w", set.Where(checkpointName(s.Name)), err)
		}
		if set.IsLazy(checkpointName(s.Name)) {
			read.FinalizeAll() // our own copy, read from the file
		}
		p.transposed[s.Name] = true
	}
	return p.Set(s.Name, t)
}

// Transpose2D returns the transpose of a 2-D float32 host tensor.
func Transpose2D(t *tensors.Tensor) (*tensors.Tensor, error) {
	dims := t.Shape().Dimensions
	if len(dims) != 2 {
		return nil, fmt.Errorf("transpose: shape %v is not 2-D", dims)
	}
	if dt := t.DType(); dt != dtypes.Float32 {
		return nil, fmt.Errorf("transpose: dtype %s is not float32", dt)
	}
	rows, cols := dims[0], dims[1]
	out := tensors.FromShape(shapes.Make(dtypes.Float32, cols, rows))
	var err error
	t.ConstFlatData(func(flatIn any) {
		out.MutableFlatData(func(flatOut any) {
			err = transposeBlocked(flatIn.([]float32), flatOut.([]float32), rows, cols, "transpose")
		})
	})
	return out, err
}

// transposeBlocked writes the transpose of the row-major [rows, cols] in to
// out, tile by tile, so that both sides stay in cache (a plain double loop
// strides through memory on one side and is several times slower on large
// weights).
//
// Large weights go in bands of rows, one per core (the first touch of out's
// fresh pages costs more than the copy itself). in may be a memory-mapped
// file (weights.Set.ViewFloat32): a fault reading it is returned as an
// error naming where.
func transposeBlocked(in, out []float32, rows, cols int, where string) error {
	const tile = 32
	workers := min(runtime.GOMAXPROCS(0), rows/tile)
	if workers < 2 || rows*cols < 1<<20 {
		return weights.GuardFault(where, func() error { transposeRows(in, out, rows, cols, 0, rows); return nil })
	}
	band := (rows/workers + tile - 1) / tile * tile
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for r0 := 0; r0 < rows; r0 += band {
		wg.Go(func() {
			err := weights.GuardFault(where, func() error { transposeRows(in, out, rows, cols, r0, min(r0+band, rows)); return nil })
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return first
}

// transposeRows is transposeBlocked for rows [from, to) of in.
func transposeRows(in, out []float32, rows, cols, from, to int) {
	const tile = 32
	for r0 := from; r0 < to; r0 += tile {
		r1 := min(r0+tile, to)
		for c0 := 0; c0 < cols; c0 += tile {
			c1 := min(c0+tile, cols)
			for r := r0; r < r1; r++ {
				row := in[r*cols : r*cols+cols]
				for c := c0; c < c1; c++ {
					out[c*rows+r] = row[c]
				}
			}
		}
	}
}
