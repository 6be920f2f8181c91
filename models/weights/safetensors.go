package weights

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/go-huggingface/hub"
	hfst "github.com/gomlx/go-huggingface/models/safetensors"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/nlpodyssey/safetensors"
	"github.com/trustformers/trustformers-go/files"
)

// File names of a Hugging Face model folder.
const (
	SafetensorsFile  = "model.safetensors"
	SafetensorsIndex = "model.safetensors.index.json"
)

// ReadSafetensors opens one safetensors file through go-huggingface's
// reader and checks every tensor's entry (dtype, shape against its byte
// range, the range inside the file), but leaves the data in the file: each
// tensor is read when it is asked for (Set.Get, Set.Float32), so a loader
// holds one tensor at a time rather than the whole checkpoint. A truncated
// file, a bad header or an unknown dtype is an error naming the file (and
// the tensor, where one is at fault); it never panics.
func ReadSafetensors(path string) (*Set, error) {
	set, _, err := readSafetensors(path)
	return set, err
}

// readSafetensors is ReadSafetensors, also returning the file's JSON header.
func readSafetensors(path string) (set *Set, header []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			set, header, err = nil, nil, fmt.Errorf("%s: malformed safetensors file: %v", path, r)
		}
	}()
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if info.Size() < 8 {
		return nil, nil, fmt.Errorf("%s: not a safetensors file: %d bytes, shorter than its 8-byte header length", path, info.Size())
	}
	// The header first, bounded by the file's size, before go-huggingface's
	// reader allocates whatever its length field says.
	if header, err = readHeader(path, info.Size()); err != nil {
		return nil, nil, err
	}
	r, err := openSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	dataStart := 8 + int64(len(header))
	dataLen := info.Size() - dataStart
	set = NewSet()
	set.Source = path
	// Where the file can be mapped, tensors are copied from the mapping
	// (released with the set); else each is read from the file when asked for.
	var mapped *mappedFile
	if mapping := mapFile(path, info.Size()); mapping != nil {
		mapped = &mappedFile{data: mapping}
		runtime.AddCleanup(mapped, unmapFile, mapping)
	}
	ranges := make([]byteRange, 0, len(r.Header.Tensors))
	for name, meta := range r.Header.Tensors {
		shape, err := meta.GoMLXShape()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: tensor %q: %v", path, name, err)
		}
		size, err := byteSize(shape.DType.Size(), shape.Dimensions, dataLen)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: tensor %q: shape %v: %w", path, name, shape.Dimensions, err)
		}
		start, end := meta.DataOffsets[0], meta.DataOffsets[1]
		if start < 0 || end < start || end > dataLen {
			return nil, nil, fmt.Errorf("%s: tensor %q: data_offsets [%d, %d] outside the file's %d bytes of data", path, name, start, end, dataLen)
		}
		if end-start != size {
			return nil, nil, fmt.Errorf("%s: tensor %q: shape %s needs %d bytes, data_offsets give %d", path, name, shape, size, end-start)
		}
		ranges = append(ranges, byteRange{name, start, end})
		l := lazyTensor{shape: shape}
		if mapped != nil {
			l.mapped, l.start, l.end = mapped, dataStart+start, dataStart+end
		} else {
			l.read = func() (*tensors.Tensor, error) {
				r, err := openSafetensors(path)
				if err != nil {
					return nil, err
				}
				defer r.Close()
				return r.ReadTensor(nil, name)
			}
		}
		set.addLazy(name, path, l)
	}
	if err := checkOverlaps(ranges); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, header, nil
}

// byteRange is where a tensor's data lies in a file.
type byteRange struct {
	name       string
	start, end int64
}

// checkOverlaps reports two tensors whose data share bytes.
func checkOverlaps(ranges []byteRange) error {
	slices.SortFunc(ranges, func(a, b byteRange) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end)) })
	var last *byteRange // the non-empty range reaching furthest so far
	for i := range ranges {
		r := &ranges[i]
		if r.end == r.start {
			continue // an empty tensor holds no bytes
		}
		if last != nil && r.start < last.end {
			return fmt.Errorf("tensors %q [%d, %d] and %q [%d, %d] overlap", last.name, last.start, last.end, r.name, r.start, r.end)
		}
		if last == nil || r.end > last.end {
			last = r
		}
	}
	return nil
}

// byteSize returns the bytes of a tensor of dims with elements of
// elemSize bytes, or an error when a dimension is negative or the size
// exceeds limit (the file's data), computed without overflowing: a shape
// such as [2^58, 64] must not wrap around to a small number.
func byteSize(elemSize int, dims []int, limit int64) (int64, error) {
	size := int64(elemSize)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d", d)
		}
		if d == 0 {
			return 0, nil
		}
		if size > limit/int64(d) {
			return 0, fmt.Errorf("needs more bytes than the file's %d bytes of data", limit)
		}
		size *= int64(d)
	}
	return size, nil
}

// readHeader returns the JSON header of the safetensors file at path, of
// fileSize bytes.
func readHeader(path string, fileSize int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n > uint64(fileSize-8) {
		return nil, fmt.Errorf("%s: header length %d exceeds the file's %d bytes (truncated or not a safetensors file)", path, n, fileSize)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return header, nil
}

// openSafetensors opens path with go-huggingface's safetensors reader.
func openSafetensors(path string) (*hfst.TensorReader, error) {
	dir, file := filepath.Split(path)
	m := hfst.NewEmpty(hub.NewLocal(filepath.Clean(dir)))
	r, err := m.NewTensorReader(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return r, nil
}

// ReadSafetensorsWithMetadata is ReadSafetensors that also returns the
// header's "__metadata__" entries.
func ReadSafetensorsWithMetadata(path string) (*Set, map[string]string, error) {
	set, header, err := readSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	var h struct {
		Metadata map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, nil, fmt.Errorf("%s: __metadata__: %w", path, err)
	}
	return set, h.Metadata, nil
}

// ReadDir reads the weights of a Hugging Face model folder: model.safetensors,
// or the shards that model.safetensors.index.json lists. Every tensor the
// index names must be in the shard it names.
func ReadDir(dir string) (*Set, error) {
	single := filepath.Join(dir, SafetensorsFile)
	if _, err := os.Stat(single); err == nil {
		return ReadSafetensors(single)
	}
	indexPath := filepath.Join(dir, SafetensorsIndex)
	data, err := files.ReadFile(indexPath, files.ConfigLimit)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s or %s", dir, SafetensorsFile, SafetensorsIndex)
	}
	if err != nil {
		return nil, err
	}
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("%s: %w", indexPath, err)
	}
	if len(index.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: field \"weight_map\" missing or empty", indexPath)
	}
	shards := map[string]bool{}
	for _, f := range index.WeightMap {
		if filepath.Base(f) != f {
			return nil, fmt.Errorf("%s: shard name %q is not a plain file name", indexPath, f)
		}
		shards[f] = true
	}
	files := make([]string, 0, len(shards))
	for f := range shards {
		files = append(files, f)
	}
	sort.Strings(files)
	set := NewSet()
	set.Source = dir
	for _, f := range files {
		shard, err := ReadSafetensors(filepath.Join(dir, f))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: shard %s is missing (the index lists it for %d tensors)", indexPath, f, countShard(index.WeightMap, f))
		}
		if err != nil {
			return nil, err
		}
		set.Merge(shard)
	}
	for _, name := range slices.Sorted(maps.Keys(index.WeightMap)) {
		f := index.WeightMap[name]
		got := set.File(name)
		if got == "" {
			return nil, fmt.Errorf("%s: tensor %q listed in shard %s is not in it", indexPath, name, f)
		}
		if filepath.Base(got) != f {
			return nil, fmt.Errorf("%s: tensor %q is listed in shard %s but lies in %s", indexPath, name, f, filepath.Base(got))
		}
	}
	for _, name := range set.Names() {
		if _, ok := index.WeightMap[name]; !ok {
			return nil, fmt.Errorf("%s: tensor %q of shard %s is not in the index's weight_map", indexPath, name, filepath.Base(set.File(name)))
		}
	}
	return set, nil
}

// stDTypes maps GoMLX dtypes to safetensors' names.
var stDTypes = map[dtypes.DType]string{
	dtypes.Float32: "F32", dtypes.Float64: "F64", dtypes.Float16: "F16", dtypes.BFloat16: "BF16",
	dtypes.Int8: "I8", dtypes.Int16: "I16", dtypes.Int32: "I32", dtypes.Int64: "I64",
	dtypes.Uint8: "U8", dtypes.Uint16: "U16", dtypes.Uint32: "U32", dtypes.Uint64: "U64", dtypes.Bool: "BOOL",
}

// WriteSafetensors writes set to path in Hugging Face's safetensors layout:
// a header giving each tensor's dtype, shape and data_offsets, with
// "__metadata__" {"format": "pt"} plus the entries of metadata, then the data.
// The file is written to a temporary name and renamed, so a crash never
// leaves half a file.
func WriteSafetensors(path string, set *Set, metadata map[string]string) error {
	meta := map[string]string{"format": "pt"}
	for k, v := range metadata {
		meta[k] = v
	}
	views := make(map[string]view, set.Len())
	for _, name := range set.Names() {
		t, err := set.get(name)
		if err != nil {
			return err
		}
		stName, ok := stDTypes[t.DType()]
		if !ok {
			return fmt.Errorf("%s: tensor %q: dtype %s has no safetensors encoding", path, name, t.DType())
		}
		dt, err := safetensors.ParseDType(stName)
		if err != nil {
			return err
		}
		var data []byte
		if err := t.ConstBytes(func(b []byte) { data = append([]byte(nil), b...) }); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		dims := t.Shape().Dimensions
		shape := make([]uint64, len(dims))
		for i, d := range dims {
			shape[i] = uint64(d)
		}
		views[name] = view{dtype: dt, shape: shape, data: data}
	}
	return files.Write(path, func(w io.Writer) error {
		return safetensors.SerializeToWriter(views, meta, w)
	})
}

// view is a tensor as nlpodyssey/safetensors serializes it. Its own
// NewTensorView rejects scalars (shape []), which Hugging Face's format allows.
type view struct {
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

// DType, Shape, Data and DataLen implement safetensors.View.
func (v view) DType() safetensors.DType { return v.dtype }
func (v view) Shape() []uint64          { return v.shape }
func (v view) Data() []byte             { return v.data }
func (v view) DataLen() uint64          { return uint64(len(v.data)) }

// hostTensor is a convenience for tests and converters: a float32 host tensor.
func hostTensor(data []float32, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// countShard returns how many tensors weightMap places in shard.
func countShard(weightMap map[string]string, shard string) int {
	n := 0
	for _, f := range weightMap {
		if f == shard {
			n++
		}
	}
	return n
}
