// Package weights reads and writes model weights: safetensors files (single
// and sharded, read through go-huggingface, written in Hugging Face's layout),
// llama2.c checkpoints, and llama.cpp's GGUF files (read through
// go-huggingface, dequantized to float32; written with our own F16, Q8_0 and
// Q4_0 encoders). Tensors keep the names their checkpoint gives them; each
// model family maps those names onto its network.
package weights

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"
)

// Set is a named collection of host tensors, as a checkpoint holds them, with
// the file each tensor came from (for error messages).
type Set struct {
	tensors map[string]*tensors.Tensor
	files   map[string]string
	// pending are tensors supplied after the model is built (see AddPending).
	pending map[string][]int
	// Source names where the set was read from (a file or a folder); error
	// messages about tensors that are missing use it.
	Source string
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{tensors: map[string]*tensors.Tensor{}, files: map[string]string{}, pending: map[string][]int{}}
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

// Add puts tensor t under name, recording the file it came from ("" if none).
func (s *Set) Add(name string, t *tensors.Tensor, file string) {
	s.tensors[name] = t
	s.files[name] = file
}

// Get returns the tensor called name.
func (s *Set) Get(name string) (*tensors.Tensor, bool) {
	t, ok := s.tensors[name]
	return t, ok
}

// Delete removes name from the set.
func (s *Set) Delete(name string) {
	delete(s.tensors, name)
	delete(s.files, name)
}

// Rename moves the tensor called from to the name to.
func (s *Set) Rename(from, to string) {
	if t, ok := s.tensors[from]; ok {
		f := s.files[from]
		s.Delete(from)
		s.Add(to, t, f)
	}
}

// File returns the file that tensor name came from.
func (s *Set) File(name string) string { return s.files[name] }

// Len returns the number of tensors.
func (s *Set) Len() int { return len(s.tensors) }

// Names returns the tensor names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.tensors))
	for n := range s.tensors {
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
	t, ok := s.tensors[name]
	if !ok {
		return nil, fmt.Errorf("%s: missing", s.Where(name))
	}
	if got := t.Shape().Dimensions; !slices.Equal(got, dims) {
		return nil, fmt.Errorf("%s: shape %v, want %v", s.Where(name), got, dims)
	}
	f, err := ToFloat32(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Where(name), err)
	}
	return f, nil
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
