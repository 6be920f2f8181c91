package weights

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/shapes"
	hfgguf "github.com/gomlx/go-huggingface/models/gguf"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/files"
)

// GGUF is llama.cpp's single-file format: a header of typed metadata
// key-value pairs and tensor descriptions, then the tensor data, each tensor
// in one of GGML's types (F32, F16, block-quantized Q8_0, Q4_0, K-quants, ...).
// ReadGGUF reads it through go-huggingface's reader; WriteGGUF writes
// version 3 files with our own block quantizers, which follow ggml's
// reference rules (quantize_row_q8_0_ref, quantize_row_q4_0_ref) bit for bit.

// GGUFType is a GGML tensor type (F32, F16, Q8_0, Q4_K, ...), numbered and
// named as go-huggingface's gguf package does.
type GGUFType = hfgguf.TensorType

// The tensor types WriteGGUF encodes from float32 values.
const (
	GGUFF32  = hfgguf.TensorTypeF32
	GGUFF16  = hfgguf.TensorTypeF16
	GGUFQ8_0 = hfgguf.TensorTypeQ8_0
	GGUFQ4_0 = hfgguf.TensorTypeQ4_0
)

// GGUFAlignment is the alignment of tensor data in a GGUF file when its
// metadata has no general.alignment.
const GGUFAlignment = 32

// ggufBlock is the number of values in one Q8_0 or Q4_0 block.
const ggufBlock = 32

// ParseGGUFType returns the tensor type that WriteGGUF encodes named s:
// "f32", "f16", "q8_0" or "q4_0" (in any case).
func ParseGGUFType(s string) (GGUFType, error) {
	for _, t := range []GGUFType{GGUFF32, GGUFF16, GGUFQ8_0, GGUFQ4_0} {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("GGUF tensor type %q: want f32, f16, q8_0 or q4_0", s)
}

// GGUFKV is one metadata entry of a GGUF file. Value is a uint8, int8,
// uint16, int16, uint32, int32, uint64, int64, float32, float64, bool or
// string, or a slice of one of those (a GGUF array); each is written with the
// GGUF type of the same name. ReadGGUF gives values back with the same Go
// types.
type GGUFKV struct {
	Key   string
	Value any
}

// GGUFFileType returns llama.cpp's general.file_type value (LLAMA_FTYPE_*)
// for a file whose weights are all of type t (the types WriteGGUF encodes).
func GGUFFileType(t GGUFType) uint32 {
	return map[GGUFType]uint32{GGUFF32: 0, GGUFF16: 1, GGUFQ4_0: 2, GGUFQ8_0: 7}[t]
}

// WithGGUFKV returns meta with the entries of extra added, each replacing an
// entry of meta with the same key (a tokenizer's ids over a config's).
func WithGGUFKV(meta []GGUFKV, extra ...GGUFKV) []GGUFKV {
	out := slices.Clone(meta)
	for _, e := range extra {
		if i := slices.IndexFunc(out, func(kv GGUFKV) bool { return kv.Key == e.Key }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// GGUFTensor is one tensor for WriteGGUF: its name, its type in the file,
// its dimensions in row-major order (outermost first, [rows, cols] for a
// matrix, as GoMLX and Hugging Face give them; the file stores them reversed,
// fastest-varying first, as GGML does) and its data.
type GGUFTensor struct {
	Name string
	Type GGUFType
	Dims []int
	// Values are the row-major float32 values, which WriteGGUF encodes as
	// Type (F32, F16, Q8_0 or Q4_0).
	Values []float32
	// Raw, used instead of Values, is data already encoded in Type's layout,
	// written as is: for types WriteGGUF does not encode itself (K-quants)
	// or for copying a tensor from another file.
	Raw []byte
}

// WriteGGUF writes a GGUF version 3 file: the metadata entries in order,
// then the tensors in order, their data aligned to general.alignment (a
// uint32 in meta, GGUFAlignment when absent). Quantized types need rows
// (the last dimension) that are a whole number of blocks (32 values for Q8_0
// and Q4_0). The file is written to a temporary name and renamed, so a crash
// never leaves half a file.
func WriteGGUF(path string, meta []GGUFKV, tensors []GGUFTensor) error {
	alignment := uint64(GGUFAlignment)
	header := binary.LittleEndian.AppendUint32([]byte("GGUF"), 3) // magic, version
	header = binary.LittleEndian.AppendUint64(header, uint64(len(tensors)))
	header = binary.LittleEndian.AppendUint64(header, uint64(len(meta)))
	keys := map[string]bool{}
	for _, kv := range meta {
		if kv.Key == "" || keys[kv.Key] {
			return fmt.Errorf("%s: metadata key %q is empty or given twice", path, kv.Key)
		}
		keys[kv.Key] = true
		if kv.Key == hfgguf.KeyGeneralAlignment {
			a, ok := kv.Value.(uint32)
			if !ok || a == 0 || a%8 != 0 {
				return fmt.Errorf("%s: metadata key %q must be a uint32 multiple of 8, got %v (%T)", path, kv.Key, kv.Value, kv.Value)
			}
			alignment = uint64(a)
		}
		header = appendGGUFString(header, kv.Key)
		var err error
		if header, err = appendGGUFValue(header, kv.Value); err != nil {
			return fmt.Errorf("%s: metadata key %q: %w", path, kv.Key, err)
		}
	}
	names := map[string]bool{}
	var offset uint64
	for _, t := range tensors {
		size, err := t.size()
		if err == nil && names[t.Name] {
			err = errors.New("given twice")
		}
		if err != nil {
			return fmt.Errorf("%s: tensor %q: %w", path, t.Name, err)
		}
		names[t.Name] = true
		header = appendGGUFString(header, t.Name)
		header = binary.LittleEndian.AppendUint32(header, uint32(len(t.Dims)))
		for i := len(t.Dims) - 1; i >= 0; i-- {
			header = binary.LittleEndian.AppendUint64(header, uint64(t.Dims[i]))
		}
		header = binary.LittleEndian.AppendUint32(header, uint32(t.Type))
		header = binary.LittleEndian.AppendUint64(header, offset)
		offset += size + padding(size, alignment)
	}
	header = append(header, make([]byte, padding(uint64(len(header)), alignment))...)
	return files.Write(path, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if _, err := w.Write(header); err != nil {
			return err
		}
		for _, t := range tensors {
			data := t.encode()
			if _, err := w.Write(data); err != nil {
				return err
			}
			if _, err := w.Write(make([]byte, padding(uint64(len(data)), alignment))); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}

// size checks t's dimensions and data against its type and returns the
// number of bytes its data takes in the file.
func (t *GGUFTensor) size() (uint64, error) {
	if t.Name == "" {
		return 0, errors.New("empty name")
	}
	if len(t.Dims) < 1 || len(t.Dims) > 4 {
		return 0, fmt.Errorf("dimensions %v: GGUF tensors have 1 to 4", t.Dims)
	}
	n := 1
	for _, d := range t.Dims {
		if d <= 0 || d > 1<<40 || n > (1<<40)/d {
			return 0, fmt.Errorf("dimensions %v out of range", t.Dims)
		}
		n *= d
	}
	block, blockBytes := t.Type.BlockSize(), t.Type.TypeSize()
	if block == 0 || blockBytes == 0 {
		return 0, fmt.Errorf("tensor type %s has no known layout", t.Type)
	}
	if cols := t.Dims[len(t.Dims)-1]; cols%block != 0 {
		return 0, fmt.Errorf("rows of %d values are not a whole number of %s blocks of %d", cols, t.Type, block)
	}
	size := uint64(n/block) * uint64(blockBytes)
	switch {
	case t.Raw != nil && t.Values != nil:
		return 0, errors.New("both Values and Raw are set")
	case t.Raw != nil:
		if uint64(len(t.Raw)) != size {
			return 0, fmt.Errorf("%d raw bytes; %s %v takes %d", len(t.Raw), t.Type, t.Dims, size)
		}
	default:
		switch t.Type {
		case GGUFF32, GGUFF16, GGUFQ8_0, GGUFQ4_0:
		default:
			return 0, fmt.Errorf("WriteGGUF encodes F32, F16, Q8_0 and Q4_0, not %s (give its bytes in Raw)", t.Type)
		}
		if len(t.Values) != n {
			return 0, fmt.Errorf("%d values for dimensions %v (%d)", len(t.Values), t.Dims, n)
		}
	}
	return size, nil
}

// encode returns t's data in the file's layout (size has checked it).
func (t *GGUFTensor) encode() []byte {
	if t.Raw != nil {
		return t.Raw
	}
	switch t.Type {
	case GGUFF16:
		out := make([]byte, 0, 2*len(t.Values))
		for _, v := range t.Values {
			out = binary.LittleEndian.AppendUint16(out, float16.FromFloat32(v).Bits())
		}
		return out
	case GGUFQ8_0:
		return QuantizeQ8_0(t.Values)
	case GGUFQ4_0:
		return QuantizeQ4_0(t.Values)
	}
	out := make([]byte, 0, 4*len(t.Values))
	for _, v := range t.Values {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

// QuantizeQ8_0 encodes x as GGML's Q8_0 blocks, following ggml's reference
// quantize_row_q8_0_ref: each block of 32 values becomes a scale
// d = max|x|/127, stored as float16, and 32 int8 values round(x/d) (halves
// away from zero), 34 bytes in all. len(x) must be a multiple of 32.
func QuantizeQ8_0(x []float32) []byte {
	checkBlocks(x)
	out := make([]byte, 0, len(x)/ggufBlock*34)
	for b := 0; b < len(x); b += ggufBlock {
		block := x[b : b+ggufBlock]
		var amax float32
		for _, v := range block {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		out = binary.LittleEndian.AppendUint16(out, float16.FromFloat32(d).Bits())
		for _, v := range block {
			out = append(out, byte(int8(math.Round(float64(v*id)))))
		}
	}
	return out
}

// QuantizeQ4_0 encodes x as GGML's Q4_0 blocks, following ggml's reference
// quantize_row_q4_0_ref: in each block of 32 values, the value of largest
// magnitude m (with its sign) gives the scale d = m / -8, stored as float16,
// and each value x becomes the 4-bit code min(15, int(x/d + 8.5)), which
// dequantizes to (code-8)·d. Value j of the block goes in the low nibble of
// byte j and value j+16 in its high nibble: 18 bytes per block. len(x) must
// be a multiple of 32.
func QuantizeQ4_0(x []float32) []byte {
	checkBlocks(x)
	const half = ggufBlock / 2
	out := make([]byte, 0, len(x)/ggufBlock*18)
	for b := 0; b < len(x); b += ggufBlock {
		block := x[b : b+ggufBlock]
		var amax, m float32
		for _, v := range block {
			if abs32(v) > amax {
				amax, m = abs32(v), v
			}
		}
		d := m / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		out = binary.LittleEndian.AppendUint16(out, float16.FromFloat32(d).Bits())
		code := func(v float32) byte {
			// float32(v*id) rounds the product before the addition, as the
			// reference's separate statements do (no fused multiply-add).
			return byte(min(15, int8(float32(v*id)+8.5)))
		}
		for j := range half {
			out = append(out, code(block[j])|code(block[j+half])<<4)
		}
	}
	return out
}

func checkBlocks(x []float32) {
	if len(x)%ggufBlock != 0 {
		panic(fmt.Sprintf("weights: quantizing %d values, not a whole number of blocks of %d", len(x), ggufBlock))
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// padding returns the bytes that bring n up to a multiple of alignment.
func padding(n, alignment uint64) uint64 { return (alignment - n%alignment) % alignment }

func appendGGUFString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// ggufValueTypes maps Go kinds to GGUF metadata value types (9 is an array).
var ggufValueTypes = map[reflect.Kind]uint32{
	reflect.Uint8: 0, reflect.Int8: 1, reflect.Uint16: 2, reflect.Int16: 3, reflect.Uint32: 4, reflect.Int32: 5,
	reflect.Float32: 6, reflect.Bool: 7, reflect.String: 8, reflect.Uint64: 10, reflect.Int64: 11, reflect.Float64: 12,
}

const ggufArray, ggufString = 9, 8

// appendGGUFValue appends a metadata value: its type, then its encoding.
func appendGGUFValue(b []byte, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, errors.New("nil value")
	}
	kind, isArray := rv.Kind(), rv.Kind() == reflect.Slice
	if isArray {
		kind = rv.Type().Elem().Kind()
	}
	typ, ok := ggufValueTypes[kind]
	if !ok {
		return nil, fmt.Errorf("a %T has no GGUF type (use a sized number, bool or string, or a slice of one)", v)
	}
	if isArray {
		b = binary.LittleEndian.AppendUint32(b, ggufArray)
		b = binary.LittleEndian.AppendUint32(b, typ)
		b = binary.LittleEndian.AppendUint64(b, uint64(rv.Len()))
	} else {
		b = binary.LittleEndian.AppendUint32(b, typ)
	}
	if typ == ggufString {
		if !isArray {
			return appendGGUFString(b, rv.String()), nil
		}
		for i := range rv.Len() {
			b = appendGGUFString(b, rv.Index(i).String())
		}
		return b, nil
	}
	return binary.Append(b, binary.LittleEndian, v)
}

// GGUFInfo describes a GGUF file that ReadGGUF read.
type GGUFInfo struct {
	Path      string
	Version   uint32
	Alignment uint64
	// Metadata holds the key-value pairs in file order, their values with
	// the Go types GGUFKV lists.
	Metadata []GGUFKV
	// Tensors describes each tensor in the order of its data in the file.
	Tensors []GGUFTensorInfo
	// dataOffset is where the tensor data starts in the file (ReadBlocks).
	dataOffset int64
}

// GGUFTensorInfo describes one tensor of a GGUF file.
type GGUFTensorInfo struct {
	Name string
	// Type is the tensor's type in the file (Q4_0, Q6_K, ...), before
	// ReadGGUF dequantized it.
	Type GGUFType
	// Dims are the dimensions in row-major order ([rows, cols]).
	Dims []int
	// offset is where the tensor's data starts in the data section.
	offset uint64
}

// Meta returns the value of metadata key, and whether it is present.
func (g *GGUFInfo) Meta(key string) (any, bool) {
	for _, kv := range g.Metadata {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Tensor returns the description of tensor name, and whether it is present.
func (g *GGUFInfo) Tensor(name string) (GGUFTensorInfo, bool) {
	for _, t := range g.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return GGUFTensorInfo{}, false
}

// MetaString returns metadata key as a string; a missing key or another
// type is an error naming the file and the key.
func (g *GGUFInfo) MetaString(key string) (string, error) {
	v, err := g.required(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", g.wrongType(key, v, "a string")
	}
	return s, nil
}

// MetaStrings returns metadata key as a list of strings.
func (g *GGUFInfo) MetaStrings(key string) ([]string, error) {
	v, err := g.required(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]string)
	if !ok {
		return nil, g.wrongType(key, v, "an array of strings")
	}
	return s, nil
}

// MetaInt returns metadata key, of any integer type, as an int.
func (g *GGUFInfo) MetaInt(key string) (int, error) {
	v, err := g.required(key)
	if err != nil {
		return 0, err
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() <= math.MaxInt64 {
			return int(rv.Uint()), nil
		}
	}
	return 0, g.wrongType(key, v, "an integer")
}

// MetaFloat returns metadata key, a float32 or float64, as a float64. A
// float32 comes back as the shortest decimal that rounds to it (1e-05, not
// 9.99999974737875e-06), the value a config.json would have held. NaN and
// the infinities, which JSON configs cannot hold and no model setting
// means, are errors naming the key.
func (g *GGUFInfo) MetaFloat(key string) (float64, error) {
	v, err := g.required(key)
	if err != nil {
		return 0, err
	}
	var f float64
	switch x := v.(type) {
	case float32:
		f, _ = strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	case float64:
		f = x
	default:
		return 0, g.wrongType(key, v, "a float")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s: metadata key %q is %v, want a finite number", g.Path, key, f)
	}
	return f, nil
}

func (g *GGUFInfo) required(key string) (any, error) {
	v, ok := g.Meta(key)
	if !ok {
		return nil, fmt.Errorf("%s: metadata key %q missing", g.Path, key)
	}
	return v, nil
}

func (g *GGUFInfo) wrongType(key string, v any, want string) error {
	return fmt.Errorf("%s: metadata key %q is %v (%T), want %s", g.Path, key, v, v, want)
}

// ggufReadable lists the tensor types ReadGGUF reads: those go-huggingface
// (v0.4.12) loads natively or dequantizes.
var ggufReadable = map[GGUFType]bool{
	hfgguf.TensorTypeF32: true, hfgguf.TensorTypeF16: true, hfgguf.TensorTypeBF16: true, hfgguf.TensorTypeF64: true,
	hfgguf.TensorTypeI8: true, hfgguf.TensorTypeI16: true, hfgguf.TensorTypeI32: true, hfgguf.TensorTypeI64: true,
	hfgguf.TensorTypeQ4_0: true, hfgguf.TensorTypeQ4_1: true, hfgguf.TensorTypeQ5_0: true, hfgguf.TensorTypeQ5_1: true,
	hfgguf.TensorTypeQ8_0: true, hfgguf.TensorTypeQ2_K: true, hfgguf.TensorTypeQ3_K: true, hfgguf.TensorTypeQ4_K: true,
	hfgguf.TensorTypeQ5_K: true, hfgguf.TensorTypeQ6_K: true,
}

// ReadGGUF opens a GGUF file (version 2 or 3) and returns its tensors, under
// the file's own tensor names (token_embd.weight, blk.0.attn_q.weight, ...),
// and its metadata. It reads the header only: each tensor is read (through
// go-huggingface's reader) when the set is asked for it, each time, so a
// loader reads the tensors its model uses and no others. Tensors come back
// in row-major order ([rows, cols]); quantized ones (Q8_0, Q4_0, K-quants,
// ...) are dequantized and float16, bfloat16 and float64 ones converted,
// all to float32; integer tensors keep their type. The info holds the
// metadata and each tensor's type in the file.
//
// The whole layout is checked before any tensor is read (see
// checkGGUFLayout): a corrupt header, an alignment that is not a power of
// two, tensors whose data overlap, are not aligned, run past the file or
// leave bytes between them that their type does not account for (a
// tensor's type changed: Q4_1 data declared Q4_0), or a tensor type
// go-huggingface cannot decode, is an error naming the file (and the
// tensor); it never panics.
func ReadGGUF(path string) (set *Set, info *GGUFInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			set, info, err = nil, nil, fmt.Errorf("%s: malformed GGUF file: %v", path, r)
		}
	}()
	f, info, err := openGGUF(path)
	if err != nil {
		return nil, nil, err
	}
	set = NewSet()
	set.Source = path
	for _, t := range info.Tensors {
		ti, _ := f.GetTensorInfo(t.Name)
		dtype := ti.Type.GoMLXDType()
		if dtype.IsFloat() {
			dtype = dtypes.Float32 // converted by readGGUFTensor
		}
		shape := shapes.Make(dtype, t.Dims...)
		set.addLazy(t.Name, path, lazyTensor{shape: shape, read: func() (*tensors.Tensor, error) { return readGGUFTensor(f, ti, shape) }})
	}
	return set, info, nil
}

// readGGUFTensor reads the tensor ti of f, whose layout openGGUF checked,
// as shape (floats converted to float32).
func readGGUFTensor(f *hfgguf.File, ti hfgguf.TensorInfo, shape shapes.Shape) (t *tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("malformed GGUF tensor data: %v", r)
		}
	}()
	r, err := hfgguf.NewReader(f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if t, err = r.ReadTensor(nil, ti.Name); err != nil {
		return nil, err
	}
	if t.DType() != dtypes.Float32 && t.DType().IsFloat() {
		if t, err = ToFloat32(t); err != nil {
			return nil, err
		}
	}
	if !t.Shape().Equal(shape) {
		return nil, fmt.Errorf("go-huggingface read %s, the header says %s", t.Shape(), shape)
	}
	return t, nil
}

// ReadGGUFInfo reads the header of the GGUF file path: its metadata and
// its tensors' descriptions, checked as ReadGGUF checks them, without
// reading any tensor data: enough for a tokenizer or a config.
func ReadGGUFInfo(path string) (info *GGUFInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			info, err = nil, fmt.Errorf("%s: malformed GGUF file: %v", path, r)
		}
	}()
	_, info, err = openGGUF(path)
	return info, err
}

// ggufMaxAlignment bounds general.alignment: llama.cpp writes 32, and no
// reader needs its tensors further apart than a large page.
const ggufMaxAlignment = 1 << 21

// openGGUF opens path, checks its version, alignment and tensor layout,
// and reads its metadata and tensor descriptions (in data order).
func openGGUF(path string) (*hfgguf.File, *GGUFInfo, error) {
	stat, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !stat.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file (%s)", path, stat.Mode().Type())
	}
	f, err := hfgguf.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a readable GGUF file: %w", path, err)
	}
	if f.Version > 3 {
		return nil, nil, fmt.Errorf("%s: GGUF version %d; versions 2 and 3 are supported", path, f.Version)
	}
	info := &GGUFInfo{Path: path, Version: f.Version}
	for _, kv := range f.KeyValues {
		info.Metadata = append(info.Metadata, GGUFKV{Key: kv.Key, Value: kv.Raw()})
	}
	if _, ok := info.Meta(hfgguf.KeyGeneralAlignment); ok {
		a, err := info.MetaInt(hfgguf.KeyGeneralAlignment)
		if err != nil {
			return nil, nil, err
		}
		if a < 1 || a > ggufMaxAlignment || a&(a-1) != 0 {
			return nil, nil, fmt.Errorf("%s: metadata key %q is %d; it must be a power of two from 1 to %d", path, hfgguf.KeyGeneralAlignment, a, ggufMaxAlignment)
		}
	}
	info.Alignment = f.Alignment // go-huggingface's reading of the key just checked, or 32
	info.dataOffset = f.DataOffset()
	if len(f.TensorInfos) > 0 && f.DataOffset() > stat.Size() {
		return nil, nil, fmt.Errorf("%s: truncated: tensor data starts at byte %d, the file has %d", path, f.DataOffset(), stat.Size())
	}
	inDataOrder := slices.Clone(f.TensorInfos)
	if err := mendTensorIndex(f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if info.Tensors, err = checkGGUFLayout(inDataOrder, uint64(stat.Size()-f.DataOffset()), f.Alignment); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, info, nil
}

// mendTensorIndex works around go-huggingface v0.4.12's Open, which indexes
// the tensor infos by name with pointers into File.TensorInfos and then sorts
// that slice by data offset: in a file whose tensor infos are not in data
// order (legal, though llama.cpp never writes one), GetTensorInfo, and so
// ReadTensor, then answers with another tensor's info. Putting the slice back
// in file order, where those pointers point, mends the index (and changes
// nothing when it is right). Duplicate names, or an index it cannot mend,
// are an error.
func mendTensorIndex(f *hfgguf.File) error {
	slot := make(map[string]int, len(f.TensorInfos)) // where each tensor is now
	for i, ti := range f.TensorInfos {
		if _, dup := slot[ti.Name]; dup {
			return fmt.Errorf("tensor %q appears twice", ti.Name)
		}
		slot[ti.Name] = i
	}
	fileOrder := make([]hfgguf.TensorInfo, len(f.TensorInfos))
	for _, ti := range f.TensorInfos {
		indexed, _ := f.GetTensorInfo(ti.Name) // the info in the slot ti.Name's pointer holds
		fileOrder[slot[indexed.Name]] = ti
	}
	copy(f.TensorInfos, fileOrder)
	for _, ti := range fileOrder {
		if got, _ := f.GetTensorInfo(ti.Name); got.Name != ti.Name || got.Offset != ti.Offset {
			return fmt.Errorf("tensor %q: go-huggingface's index gives tensor %q", ti.Name, got.Name)
		}
	}
	return nil
}

// checkGGUFLayout checks the tensors of a GGUF file, in data order, and
// returns their descriptions. Each tensor's type must be readable and its
// dimensions whole blocks (checkGGUFTensor); its data must start at a
// multiple of alignment, the first at the start of the data section, and
// fill the space up to the next tensor's data (or the end of the file)
// but for the alignment padding: the layout llama.cpp writes and insists
// on. Overlapping tensors, bytes no tensor accounts for, or a tensor that
// runs past the file are errors naming the tensor: they are what a tensor
// whose declared type is not its data's (Q4_1 blocks declared Q4_0), or a
// forged header pointing many tensors at the same bytes, look like.
func checkGGUFLayout(inDataOrder []hfgguf.TensorInfo, dataBytes, alignment uint64) ([]GGUFTensorInfo, error) {
	out := make([]GGUFTensorInfo, len(inDataOrder))
	sizes := make([]uint64, len(inDataOrder))
	for i, ti := range inDataOrder {
		dims, size, err := checkGGUFTensor(ti)
		switch {
		case err != nil:
			return nil, fmt.Errorf("tensor %q: %w", ti.Name, err)
		case ti.Offset%alignment != 0:
			return nil, fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d", ti.Name, ti.Offset, alignment)
		case ti.Offset > dataBytes || size > dataBytes-ti.Offset:
			return nil, fmt.Errorf("tensor %q: truncated: %s %v data needs bytes %d to %d of the data section, which has %d",
				ti.Name, ti.Type, dims, ti.Offset, ti.Offset+size, dataBytes)
		}
		out[i], sizes[i] = GGUFTensorInfo{Name: ti.Name, Type: ti.Type, Dims: dims, offset: ti.Offset}, size
	}
	if len(inDataOrder) > 0 && inDataOrder[0].Offset != 0 {
		return nil, fmt.Errorf("tensor %q: the %d bytes before its offset belong to no tensor", inDataOrder[0].Name, inDataOrder[0].Offset)
	}
	for i, ti := range inDataOrder {
		size := sizes[i]
		next, nextName := dataBytes, "the end of the file"
		if i+1 < len(inDataOrder) {
			next, nextName = inDataOrder[i+1].Offset, fmt.Sprintf("tensor %q", inDataOrder[i+1].Name)
		}
		switch room := next - ti.Offset; {
		case room < size:
			return nil, fmt.Errorf("tensor %q: %s %v data takes bytes %d to %d of the data section, overlapping %s at %d",
				ti.Name, ti.Type, out[i].Dims, ti.Offset, ti.Offset+size, nextName, next)
		case room > size+padding(size, alignment):
			return nil, fmt.Errorf("tensor %q: %s %v data takes %d bytes, but %d lie between its offset %d and %s: is %s its data's type?",
				ti.Name, ti.Type, out[i].Dims, size, room, ti.Offset, nextName, ti.Type)
		}
	}
	return out, nil
}

// checkGGUFTensor checks that a tensor's type is readable and its
// dimensions plausible and whole blocks; it returns the dimensions in
// row-major order and the bytes its data takes.
func checkGGUFTensor(ti hfgguf.TensorInfo) ([]int, uint64, error) {
	if !ggufReadable[ti.Type] {
		return nil, 0, fmt.Errorf("tensor type %s is not supported (readable: F32, F16, BF16, F64, I8 to I64, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K to Q6_K)", ti.Type)
	}
	if len(ti.Shape) == 0 {
		return nil, 0, errors.New("no dimensions")
	}
	n := uint64(1)
	dims := make([]int, len(ti.Shape))
	for i, d := range ti.Shape {
		if d == 0 || d > 1<<40 || n > (1<<40)/d {
			return nil, 0, fmt.Errorf("GGML dimensions %v out of range", ti.Shape)
		}
		n *= d
		dims[len(dims)-1-i] = int(d)
	}
	block := uint64(ti.Type.BlockSize())
	if ti.Shape[0]%block != 0 {
		return nil, 0, fmt.Errorf("rows of %d values are not a whole number of %s blocks of %d", ti.Shape[0], ti.Type, block)
	}
	return dims, n / block * uint64(ti.Type.TypeSize()), nil
}
