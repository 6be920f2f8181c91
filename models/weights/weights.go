// Package weights reads and writes model weights: safetensors files (single
// and sharded, read through go-huggingface, written in Hugging Face's layout),
// llama2.c checkpoints, and llama.cpp's GGUF files (read through
// go-huggingface, dequantized to float32; written with our own F16, Q8_0 and
// Q4_0 encoders). Tensors keep the names their checkpoint gives them; each
// model family maps those names onto its network.
package weights

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"unsafe"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Set is a named collection of host tensors, as a checkpoint holds them, with
// the file each tensor came from (for error messages).
type Set struct {
	tensors map[string]*tensors.Tensor
	// lazy are tensors read from their file each time they are asked for
	// (ReadSafetensors), so that a loader holds one tensor at a time.
	lazy  map[string]lazyTensor
	files map[string]string
	// pending are tensors supplied after the model is built (see AddPending).
	pending map[string][]int
	// blocks are 2-D tensors kept as low-bit codes (see AddBlocks).
	blocks map[string]*KeptTensor
	// Source names where the set was read from (a file or a folder); error
	// messages about tensors that are missing use it.
	Source string
	// AllowUnused lets a model be built from a set holding tensors it does
	// not use (modeling.LoadSpecsTo): off, such a set is an error.
	AllowUnused bool
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{tensors: map[string]*tensors.Tensor{}, lazy: map[string]lazyTensor{}, files: map[string]string{}, pending: map[string][]int{}, blocks: map[string]*KeptTensor{}}
}

// lazyTensor is a tensor left in its file: its shape, and how to read it.
type lazyTensor struct {
	shape shapes.Shape
	// mapped, where not nil, holds the tensor's bytes (little-endian, of
	// shape's dtype) at [start, end); it stays mapped while a tensor refers
	// to it. Otherwise read reads the tensor from its file.
	mapped     *mappedFile
	start, end int64
	read       func() (*tensors.Tensor, error)
}

// load returns a new host tensor with l's values, copied from the mapping
// or read from the file.
func (l lazyTensor) load() (t *tensors.Tensor, err error) {
	if l.mapped == nil {
		return l.read()
	}
	willNeed(l.mapped.data, l.start, l.end)
	err = GuardFault("reading", func() error {
		t, err = tensors.FromRaw(nil, 0, l.shape, l.mapped.data[l.start:l.end])
		return err
	})
	runtime.KeepAlive(l.mapped)
	return t, err
}

// mappedFile is a file mapped into memory (see mapFile); it is unmapped
// once no tensor of any Set refers to it.
type mappedFile struct{ data []byte }

// addLazy puts tensor name, from file, under name without reading it: l
// is loaded each time the tensor is asked for.
func (s *Set) addLazy(name, file string, l lazyTensor) {
	delete(s.tensors, name)
	s.lazy[name] = l
	s.files[name] = file
}

// get returns tensor name, reading it from its file if it was left there.
func (s *Set) get(name string) (*tensors.Tensor, error) {
	if t, ok := s.tensors[name]; ok {
		return t, nil
	}
	l, ok := s.lazy[name]
	if b, kept := s.blocks[name]; kept {
		return nil, fmt.Errorf("%s: kept as %s codes (see Set.Blocks), not a float tensor", s.Where(name), b.Type)
	}
	if !ok {
		return nil, fmt.Errorf("%s: missing", s.Where(name))
	}
	t, err := l.load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Where(name), err)
	}
	return t, nil
}

// Has reports whether the set holds tensor name (without reading it).
func (s *Set) Has(name string) bool {
	_, eager := s.tensors[name]
	_, lazy := s.lazy[name]
	_, kept := s.blocks[name]
	return eager || lazy || kept
}

// IsLazy reports whether tensor name is left in its file and read each
// time it is asked for: the tensor a reader returns is then the caller's.
func (s *Set) IsLazy(name string) bool {
	_, ok := s.lazy[name]
	return ok
}

// Shape returns the shape of tensor name (without reading it).
func (s *Set) Shape(name string) (shapes.Shape, bool) {
	if t, ok := s.tensors[name]; ok {
		return t.Shape(), true
	}
	if b, ok := s.blocks[name]; ok {
		return shapes.Make(dtypes.Float32, b.Rows, b.Cols), true // as a network sees it
	}
	l, ok := s.lazy[name]
	return l.shape, ok
}

// AddPending records that tensor name, of checkpoint dimensions dims, is
// not in the set but supplied once the model is built from it (quantized
// weights: their codes replace the float tensor): a loader checks its
// dimensions and leaves it out, rather than reading a float placeholder.
func (s *Set) AddPending(name string, dims ...int) { s.pending[name] = dims }

// Pending returns the dimensions AddPending recorded for name.
func (s *Set) Pending(name string) ([]int, bool) {
	d, ok := s.pending[name]
	return d, ok
}

// AddBlocks puts the 2-D weight name in the set as a tensor kept as
// low-bit codes and scales (a GGUF tensor in its block type), left in its
// file: a loader reads it so (KeptTensor.Read, modeling.Params.SetBlocks)
// rather than as float32 values. file names where it comes from in errors.
func (s *Set) AddBlocks(name string, k *KeptTensor, file string) {
	s.Delete(name)
	s.blocks[name] = k
	s.files[name] = file
}

// Blocks returns the tensor AddBlocks put under name.
func (s *Set) Blocks(name string) (*KeptTensor, bool) {
	k, ok := s.blocks[name]
	return k, ok
}

// Add puts tensor t under name, recording the file it came from ("" if none).
func (s *Set) Add(name string, t *tensors.Tensor, file string) {
	delete(s.lazy, name)
	s.tensors[name] = t
	s.files[name] = file
}

// AddComputed puts tensor name, of shape, in the set without computing it:
// read makes it each time it is asked for, as a new tensor the caller then
// owns, so that a loader holds one such tensor at a time (a family whose
// checkpoints store a weight in pieces, one per expert, stacks them so).
// file names where it comes from in errors.
func (s *Set) AddComputed(name string, shape shapes.Shape, file string, read func() (*tensors.Tensor, error)) {
	s.addLazy(name, file, lazyTensor{shape: shape, read: read})
}

// Get returns the tensor called name. A tensor a file reader left in its
// file (ReadSafetensors) is read now, each time: a read that fails reports
// false (Float32 returns the error itself). Use Has to test for a tensor.
func (s *Set) Get(name string) (*tensors.Tensor, bool) {
	t, err := s.get(name)
	return t, err == nil
}

// Delete removes name from the set.
func (s *Set) Delete(name string) {
	delete(s.blocks, name)
	delete(s.tensors, name)
	delete(s.lazy, name)
	delete(s.files, name)
}

// Rename moves the tensor called from to the name to.
func (s *Set) Rename(from, to string) {
	f := s.files[from]
	if t, ok := s.tensors[from]; ok {
		s.Delete(from)
		s.Add(to, t, f)
	} else if l, ok := s.lazy[from]; ok {
		s.Delete(from)
		s.addLazy(to, f, l)
	}
}

// Merge moves every tensor of other into s, left in its file if it was.
func (s *Set) Merge(other *Set) {
	for name, t := range other.tensors {
		s.Add(name, t, other.files[name])
	}
	for name, l := range other.lazy {
		s.addLazy(name, other.files[name], l)
	}
}

// File returns the file that tensor name came from.
func (s *Set) File(name string) string { return s.files[name] }

// Len returns the number of tensors.
func (s *Set) Len() int { return len(s.tensors) + len(s.lazy) + len(s.blocks) }

// Names returns the tensor names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, s.Len())
	for n := range s.tensors {
		names = append(names, n)
	}
	for n := range s.lazy {
		names = append(names, n)
	}
	for n := range s.blocks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Where returns "file: tensor name" for error messages.
func (s *Set) Where(name string) string {
	if f := s.files[name]; f != "" {
		return fmt.Sprintf("%s: tensor %q", f, name)
	}
	if s.Source != "" {
		return fmt.Sprintf("%s: tensor %q", s.Source, name)
	}
	return fmt.Sprintf("tensor %q", name)
}

// Float32 returns tensor name as float32 with exactly the given dimensions:
// float16 and bfloat16 tensors are converted, and a missing tensor or a wrong
// shape is an error naming the file and the tensor.
func (s *Set) Float32(name string, dims ...int) (*tensors.Tensor, error) {
	shape, ok := s.Shape(name)
	if !ok {
		return nil, fmt.Errorf("%s: missing", s.Where(name))
	}
	if got := shape.Dimensions; !slices.Equal(got, dims) {
		return nil, fmt.Errorf("%s: shape %v, want %v", s.Where(name), got, dims)
	}
	t, err := s.get(name)
	if err != nil {
		return nil, err
	}
	f, err := ToFloat32(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Where(name), err)
	}
	return f, nil
}

// ViewFloat32 calls fn with the values of tensor name as float32,
// row-major, checked to have exactly dims (a missing tensor or a wrong shape
// is an error naming the file and the tensor). A float32 tensor of a
// memory-mapped safetensors file is passed without a copy, straight from
// the page cache: loaders copy it (or transpose it) once, into the memory
// the backend computes from. Other tensors are read and converted first.
// fn must not keep values, nor write to them.
func (s *Set) ViewFloat32(name string, dims []int, fn func(values []float32) error) error {
	shape, ok := s.Shape(name)
	if !ok {
		return fmt.Errorf("%s: missing", s.Where(name))
	}
	if got := shape.Dimensions; !slices.Equal(got, dims) {
		return fmt.Errorf("%s: shape %v, want %v", s.Where(name), got, dims)
	}
	if l, ok := s.lazy[name]; ok && l.mapped != nil && shape.DType == dtypes.Float32 && littleEndian && l.start%4 == 0 {
		raw := l.mapped.data[l.start:l.end]
		willNeed(l.mapped.data, l.start, l.end)
		err := GuardFault(s.Where(name), func() error {
			return fn(unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/4))
		})
		runtime.KeepAlive(l.mapped) // mapped until fn is done with it
		return err
	}
	t, err := s.Float32(name, dims...)
	if err != nil {
		return err
	}
	var fnErr error
	err = t.ConstFlatData(func(flat any) { fnErr = fn(flat.([]float32)) })
	if s.IsLazy(name) {
		t.FinalizeAll() // read for this call only
	}
	return cmp.Or(err, fnErr)
}

// GuardFault runs fn, which reads memory-mapped weights (ViewFloat32's
// values), and returns a memory fault as an error naming where: the fault
// of a file truncated while it is mapped (rewritten in place by another
// program) would otherwise kill the process. It covers the goroutine it
// runs on; fn's own goroutines reading the values must call it too.
func GuardFault(where string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			// A fault's panic value reports its address (debug.SetPanicOnFault).
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: the file changed while it was read (truncated or rewritten in place?): %v", where, r)
		}
	}()
	return fn()
}

// littleEndian is whether this machine stores numbers as safetensors does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Float32Values is Float32's data, row-major: the tensor name, checked to
// have dims, converted to float32 and copied out.
func (s *Set) Float32Values(name string, dims ...int) ([]float32, error) {
	t, err := s.Float32(name, dims...)
	if err != nil {
		return nil, err
	}
	values, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Where(name), err)
	}
	return values, nil
}

// ToFloat32 converts a float32, float64, float16 or bfloat16 host tensor to
// float32 (a float32 tensor is returned as is).
func ToFloat32(t *tensors.Tensor) (*tensors.Tensor, error) {
	dims := t.Shape().Dimensions
	var out []float32
	var err error
	switch t.DType() {
	case dtypes.Float32:
		return t, nil
	case dtypes.BFloat16:
		err = t.ConstFlatData(func(flat any) {
			in := flat.([]bfloat16.BFloat16)
			out = make([]float32, len(in))
			for i, v := range in {
				out[i] = v.Float32()
			}
		})
	case dtypes.Float16:
		err = t.ConstFlatData(func(flat any) {
			in := flat.([]float16.Float16)
			out = make([]float32, len(in))
			for i, v := range in {
				out[i] = v.Float32()
			}
		})
	case dtypes.Float64:
		err = t.ConstFlatData(func(flat any) {
			in := flat.([]float64)
			out = make([]float32, len(in))
			for i, v := range in {
				out[i] = float32(v)
			}
		})
	default:
		return nil, fmt.Errorf("dtype %s is not a floating-point weight type", t.DType())
	}
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(out, dims...), nil
}

func float32frombits(b uint32) float32 { return math.Float32frombits(b) }

// CheckFinite returns an error saying where values holds its first NaN or
// infinity, or nil when every value is finite. Weights that hold one make
// every output NaN, which greedy decoding turns into token 0 over and over
// (argmax of NaNs): loaders check each weight as they copy it. The scan
// runs faster than the copy (about 13 GB/s on one core here; see
// allFinite).
func CheckFinite(values []float32) error {
	start := 0
	if len(values) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(values)))%8 != 0 {
		start = 1 // so that allFinite's pairs are 8-byte aligned (a mapped tensor may start at 4)
		if !finite(values[0]) {
			return fmt.Errorf("value 0 (of %d) is %v", len(values), values[0])
		}
	}
	for start < len(values) {
		end := min(start+1024, len(values))
		if !allFinite(values[start:end]) {
			for i := start; i < end; i++ {
				if !finite(values[i]) {
					return fmt.Errorf("value %d (of %d) is %v", i, len(values), values[i])
				}
			}
		}
		start = end
	}
	return nil
}

// allFinite reports whether c, which starts 8-byte aligned, holds no NaN
// or infinity. It reads two values at a time: a float32's exponent bits are
// all ones (NaN, ±Inf), and only then, when adding one to them carries into
// the sign bit; four accumulators keep the loop free of dependencies.
func allFinite(c []float32) bool {
	const exponents, one, tops = 0x7f8000007f800000, 0x0080000000800000, 0x8000000080000000
	pairs := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(c))), len(c)/2)
	var a0, a1, a2, a3 uint64
	i := 0
	for ; i+4 <= len(pairs); i += 4 {
		a0 |= pairs[i]&exponents + one
		a1 |= pairs[i+1]&exponents + one
		a2 |= pairs[i+2]&exponents + one
		a3 |= pairs[i+3]&exponents + one
	}
	for ; i < len(pairs); i++ {
		a0 |= pairs[i]&exponents + one
	}
	return (a0|a1|a2|a3)&tops == 0 && (len(c)%2 == 0 || finite(c[len(c)-1]))
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
