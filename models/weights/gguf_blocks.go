package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"unsafe"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/shapes"
	hfgguf "github.com/gomlx/go-huggingface/models/gguf"
	"github.com/gomlx/gomlx/core/tensors"
)

// Blocks is a 2-D GGUF tensor kept at (about) its stored size: low-bit
// codes with a float scale, and a zero point or a float minimum, per group
// of Group consecutive values of a row. Value c of row r, in group
// g = c/Group, is
//
//	Codes[r, c] · Scale[r, g]                 (8-bit codes: Q8_0, Q5_0, Q6_K)
//	(Codes[r, c] − Zero[r, g]) · Scale[r, g]  (4-bit codes with Zero: Q4_0)
//	Codes[r, c] · Scale[r, g] + Min[r, g]     (4-bit codes with Min: Q4_1, Q4_K)
//
// in float32, exactly the arithmetic of ggml's dequantize_row_* (and the
// gguf package's dequantize) for the type, so a graph that computes it
// gives the same float32 values as dequantizing at load. This is the
// layout ONNX Runtime's MatMulNBits takes (see the quant package's doc for
// the mapping): codes of 4 or 8 bits in blocks of a power of two, float
// scales [rows, blocks], optional zero points.
type Blocks struct {
	// Type is the tensor's type in the file.
	Type       GGUFType
	Rows, Cols int
	// Group is the number of consecutive values of a row sharing a scale
	// (32, or 16 for Q6_K).
	Group int
	// Bits is 8 (Codes int8 [Rows, Cols]; Q5_0's and Q6_K's 5- and 6-bit
	// codes are widened to a byte, centred on zero) or 4 (Codes uint8
	// [Rows, Cols/2], column 2i in the low nibble and 2i+1 in the high one).
	Bits  int
	Codes *tensors.Tensor
	// Scale is [Rows, Cols/Group]: float16 where the file stores the
	// scale itself (Q8_0, Q4_0, Q4_1, Q5_0: converting it to float32 is
	// exact), float32 where it is a product of two stored numbers (Q4_K,
	// Q6_K: super-block scale times sub-block scale, rounded to float32 as
	// ggml rounds it).
	Scale *tensors.Tensor
	// Zero, uint8 [Rows, Cols/Group], or nil.
	Zero *tensors.Tensor
	// Min, of Scale's dtype and shape, or nil.
	Min *tensors.Tensor
}

// Groups returns the number of groups per row.
func (b *Blocks) Groups() int { return b.Cols / b.Group }

// Bytes returns the memory the tensors take.
func (b *Blocks) Bytes() int {
	n := 0
	for _, t := range []*tensors.Tensor{b.Codes, b.Scale, b.Zero, b.Min} {
		if t != nil {
			n += int(t.Shape().ByteSize())
		}
	}
	return n
}

// blockKind is how one GGML block type becomes codes, scales and minimums.
type blockKind struct {
	values, group, bits int
	half                bool  // scales (and minimums) stored as float16
	zero                uint8 // the zero point of every group (4-bit codes), 0 for none
	min                 bool
	// decode reads one block into codes (one per value, unpacked: an
	// 8-bit code as its two's complement), scale and min (one per group).
	decode func(block []byte, codes []uint8, scale, min []float32)
}

// blockKinds are the GGML types ReadBlocks keeps.
var blockKinds = map[GGUFType]blockKind{
	hfgguf.TensorTypeQ8_0: {values: 32, group: 32, bits: 8, half: true, decode: decodeQ8_0},
	hfgguf.TensorTypeQ5_0: {values: 32, group: 32, bits: 8, half: true, decode: decodeQ5_0},
	hfgguf.TensorTypeQ6_K: {values: 256, group: 16, bits: 8, decode: decodeQ6_K},
	hfgguf.TensorTypeQ4_0: {values: 32, group: 32, bits: 4, half: true, zero: 8, decode: decodeQ4_0},
	hfgguf.TensorTypeQ4_1: {values: 32, group: 32, bits: 4, half: true, min: true, decode: decodeQ4_1},
	hfgguf.TensorTypeQ4_K: {values: 256, group: 32, bits: 4, min: true, decode: decodeQ4_K},
}

// KeepsBlocks reports whether ReadBlocks keeps tensors of type t as codes
// (Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K); others are read as float32.
func KeepsBlocks(t GGUFType) bool {
	_, ok := blockKinds[t]
	return ok
}

func half(b []byte) float32 { return float16.FromBits(binary.LittleEndian.Uint16(b)).Float32() }

// decodeQ8_0: d (f16), 32 int8 values; y = q·d.
func decodeQ8_0(b []byte, codes []uint8, scale, _ []float32) {
	scale[0] = half(b)
	copy(codes, b[2:34])
}

// decodeQ5_0: d (f16), the 32 fifth bits (uint32), 16 bytes of low
// nibbles (value j low, j+16 high); y = (q−16)·d.
func decodeQ5_0(b []byte, codes []uint8, scale, _ []float32) {
	scale[0] = half(b)
	qh := binary.LittleEndian.Uint32(b[2:6])
	for j := range 16 {
		lo := b[6+j]&0x0F | uint8((qh>>j)<<4)&0x10
		hi := b[6+j]>>4 | uint8(qh>>(j+12))&0x10
		codes[j], codes[j+16] = uint8(int8(lo)-16), uint8(int8(hi)-16)
	}
}

// decodeQ4_0: d (f16), 16 bytes (value j low nibble, j+16 high); y = (q−8)·d.
func decodeQ4_0(b []byte, codes []uint8, scale, _ []float32) {
	scale[0] = half(b)
	for j := range 16 {
		codes[j], codes[j+16] = b[2+j]&0x0F, b[2+j]>>4
	}
}

// decodeQ4_1: d, m (f16), 16 bytes as Q4_0's; y = q·d + m.
func decodeQ4_1(b []byte, codes []uint8, scale, min []float32) {
	scale[0], min[0] = half(b), half(b[2:])
	for j := range 16 {
		codes[j], codes[j+16] = b[4+j]&0x0F, b[4+j]>>4
	}
}

// decodeQ4_K: d, dmin (f16), 12 bytes of 6-bit sub-block scales and
// minimums, 128 bytes of nibbles: in each run of 64 values, byte l holds
// value l (low) and l+32 (high). y = (d·sc)·q − dmin·m, ggml's rounding.
func decodeQ4_K(b []byte, codes []uint8, scale, min []float32) {
	d, dmin := half(b), half(b[2:])
	sc := b[4:16]
	for j := range 8 {
		s, m := scaleMinK4(j, sc)
		scale[j], min[j] = d*float32(s), -(dmin * float32(m))
	}
	qs := b[16:]
	for run := range 4 {
		for l := range 32 {
			q := qs[run*32+l]
			codes[run*64+l], codes[run*64+32+l] = q&0x0F, q>>4
		}
	}
}

// scaleMinK4 is ggml's get_scale_min_k4.
func scaleMinK4(j int, q []byte) (uint8, uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0x0F | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// decodeQ6_K: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8
// sub-block scales, d (f16); y = (d·sc)·(q−32).
func decodeQ6_K(b []byte, codes []uint8, scale, _ []float32) {
	ql, qh, sc, d := b[0:128], b[128:192], b[192:208], half(b[208:])
	for g := range 16 {
		scale[g] = d * float32(int8(sc[g]))
	}
	for half := range 2 {
		l4, h2, y := ql[half*64:], qh[half*32:], codes[half*128:]
		for l := range 32 {
			q1 := l4[l]&0x0F | (h2[l]>>0&3)<<4
			q2 := l4[l+32]&0x0F | (h2[l]>>2&3)<<4
			q3 := l4[l]>>4 | (h2[l]>>4&3)<<4
			q4 := l4[l+32]>>4 | (h2[l]>>6&3)<<4
			y[l], y[l+32], y[l+64], y[l+96] = uint8(int8(q1)-32), uint8(int8(q2)-32), uint8(int8(q3)-32), uint8(int8(q4)-32)
		}
	}
}

// KeptTensor is a 2-D tensor a Set keeps in its file as blocks, read by a
// loader when it builds the weight.
type KeptTensor struct {
	Type       GGUFType
	Rows, Cols int
	// Read reads the tensor, its tensors made by alloc (nil: on the host).
	Read func(alloc Alloc) (*Blocks, error)
}

// Alloc makes a tensor of shape for a reader to fill: a buffer a backend
// computes from, so that a weight is decoded straight into it.
type Alloc func(shape shapes.Shape) (*tensors.Tensor, error)

// ReadBlocks reads the 2-D tensor name of a GGUF file of a type
// KeepsBlocks keeps, as codes and scales (see Blocks), a few rows at a
// time into tensors alloc makes (nil: host tensors), so that it holds
// little more than the result. A scale or minimum that is not finite is an
// error naming the file and the tensor.
func (g *GGUFInfo) ReadBlocks(name string, alloc Alloc) (*Blocks, error) {
	ti, ok := g.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: missing", g.Path, name)
	}
	kind, ok := blockKinds[ti.Type]
	if !ok || len(ti.Dims) != 2 {
		return nil, fmt.Errorf("%s: tensor %q: %s %v is not kept as blocks (2-D Q8_0, Q4_0, Q4_1, Q5_0, Q4_K or Q6_K)", g.Path, name, ti.Type, ti.Dims)
	}
	if alloc == nil {
		alloc = func(shape shapes.Shape) (*tensors.Tensor, error) { return tensors.FromShape(shape), nil }
	}
	b, err := newBlocks(ti, kind, alloc)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", g.Path, name, err)
	}
	f, err := os.Open(g.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := b.fill(f, g.dataOffset+int64(ti.offset), kind); err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", g.Path, name, err)
	}
	return b, nil
}

// newBlocks allocates the tensors of a [rows, cols] tensor of kind.
func newBlocks(ti GGUFTensorInfo, kind blockKind, alloc Alloc) (b *Blocks, err error) {
	rows, cols := ti.Dims[0], ti.Dims[1]
	b = &Blocks{Type: ti.Type, Rows: rows, Cols: cols, Group: kind.group, Bits: kind.bits}
	scaleType := dtypes.Float32
	if kind.half {
		scaleType = dtypes.Float16
	}
	tensor := func(dtype dtypes.DType, dims ...int) *tensors.Tensor {
		var t *tensors.Tensor
		if err == nil {
			t, err = alloc(shapes.Make(dtype, dims...))
		}
		return t
	}
	if kind.bits == 8 {
		b.Codes = tensor(dtypes.Int8, rows, cols)
	} else {
		b.Codes = tensor(dtypes.Uint8, rows, cols/2)
	}
	b.Scale = tensor(scaleType, rows, b.Groups())
	if kind.min {
		b.Min = tensor(scaleType, rows, b.Groups())
	}
	if kind.zero != 0 {
		if b.Zero = tensor(dtypes.Uint8, rows, b.Groups()); err == nil {
			err = tensors.MutableFlatData(b.Zero, func(z []uint8) {
				for i := range z {
					z[i] = kind.zero
				}
			})
		}
	}
	return b, err
}

// fill decodes the tensor's data, which starts at offset in f, into b.
func (b *Blocks) fill(f *os.File, offset int64, kind blockKind) (err error) {
	var codes []byte
	var scale, mins any
	mutable := func(t *tensors.Tensor, fn func(flat any)) {
		if t == nil {
			fn(nil)
		} else if e := t.MutableFlatData(fn); e != nil {
			err = e
		}
	}
	mutable(b.Codes, func(flat any) {
		codes = bytesOf(flat)
		mutable(b.Scale, func(flat any) {
			scale = flat
			mutable(b.Min, func(flat any) {
				mins = flat
				err = b.decodeRows(f, offset, kind, codes, scale, mins)
			})
		})
	})
	return err
}

// decodeRows reads the tensor a few rows at a time and decodes each row
// into codes, scale and mins (flat slices of b's tensors; mins nil when b
// has no Min).
func (b *Blocks) decodeRows(f *os.File, offset int64, kind blockKind, codes []byte, scale, mins any) error {
	blockBytes := int(b.Type.TypeSize())
	perRow, groupsPerBlock := b.Cols/kind.values, kind.values/kind.group
	rowBytes := perRow * blockBytes
	chunkRows := max(1, (1<<20)/rowBytes)
	raw := make([]byte, chunkRows*rowBytes)
	row := make([]uint8, b.Cols) // one row of codes, unpacked
	s, m := make([]float32, b.Groups()), make([]float32, b.Groups())
	for r0 := 0; r0 < b.Rows; r0 += chunkRows {
		n := min(chunkRows, b.Rows-r0)
		if _, err := f.ReadAt(raw[:n*rowBytes], offset+int64(r0*rowBytes)); err != nil {
			return err
		}
		for i := range n {
			r, data := r0+i, raw[i*rowBytes:(i+1)*rowBytes]
			for k := range perRow {
				kind.decode(data[k*blockBytes:(k+1)*blockBytes], row[k*kind.values:], s[k*groupsPerBlock:], m[k*groupsPerBlock:])
			}
			if b.Bits == 8 {
				copy(codes[r*b.Cols:], row)
			} else {
				packRow(codes[r*b.Cols/2:(r+1)*b.Cols/2], row)
			}
			if err := storeGroups(scale, r*b.Groups(), s); err != nil {
				return fmt.Errorf("row %d: scale: %w", r, err)
			}
			if mins == nil {
				continue
			}
			if err := storeGroups(mins, r*b.Groups(), m); err != nil {
				return fmt.Errorf("row %d: minimum: %w", r, err)
			}
		}
	}
	return nil
}

// bytesOf returns the bytes of an int8 or uint8 slice, without a copy.
func bytesOf(flat any) []byte {
	if s, ok := flat.([]int8); ok {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
	}
	return flat.([]uint8)
}

// packRow packs codes two per byte, column 2i in the low nibble.
func packRow(dst []byte, codes []uint8) {
	for i := range dst {
		dst[i] = codes[2*i] | codes[2*i+1]<<4
	}
}

// storeGroups writes values at flat[at:], a float16 or float32 slice,
// checking each is finite.
func storeGroups(flat any, at int, values []float32) error {
	for i, v := range values {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("group %d is %v", i, v)
		}
	}
	switch f := flat.(type) {
	case []float32:
		copy(f[at:], values)
	case []float16.Float16:
		for i, v := range values {
			f[at+i] = float16.FromFloat32(v)
		}
	default:
		return errors.New("scales of an unexpected dtype")
	}
	return nil
}

// PermuteRows reorders b's rows: row r becomes the row from[r] was (the
// rows of llama.cpp's permuted query and key weights put back).
func (b *Blocks) PermuteRows(from []int) error {
	if len(from) != b.Rows {
		return fmt.Errorf("a permutation of %d rows for %d", len(from), b.Rows)
	}
	for _, t := range []*tensors.Tensor{b.Codes, b.Scale, b.Zero, b.Min} {
		if t == nil {
			continue
		}
		stride := int(t.Shape().ByteSize()) / b.Rows
		err := t.MutableBytes(func(data []byte) {
			old := slices.Clone(data)
			for r, src := range from {
				copy(data[r*stride:(r+1)*stride], old[src*stride:(src+1)*stride])
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Dequantize returns the row-major float32 [Rows, Cols] values b stands
// for, with the arithmetic of the graph (and of ggml) that Blocks
// describes.
func (b *Blocks) Dequantize() ([]float32, error) {
	codes, err := tensorBytes(b.Codes)
	if err != nil {
		return nil, err
	}
	groups := b.Groups()
	scale, err := groupValues(b.Scale)
	if err != nil {
		return nil, err
	}
	var zero []byte
	if b.Zero != nil {
		if zero, err = tensorBytes(b.Zero); err != nil {
			return nil, err
		}
	}
	var mins []float32
	if b.Min != nil {
		if mins, err = groupValues(b.Min); err != nil {
			return nil, err
		}
	}
	out := make([]float32, b.Rows*b.Cols)
	for i := range out {
		g := i/b.Cols*groups + i%b.Cols/b.Group
		var q float32
		switch {
		case b.Bits == 8:
			q = float32(int8(codes[i]))
		case i%2 == 0:
			q = float32(codes[i/2] & 0x0F)
		default:
			q = float32(codes[i/2] >> 4)
		}
		switch {
		case zero != nil:
			out[i] = (q - float32(zero[g])) * scale[g]
		case mins != nil:
			out[i] = q*scale[g] + mins[g]
		default:
			out[i] = q * scale[g]
		}
	}
	return out, nil
}

// groupValues returns a float16 or float32 tensor's values as float32.
func groupValues(t *tensors.Tensor) ([]float32, error) {
	f, err := ToFloat32(t)
	if err != nil {
		return nil, err
	}
	return tensors.CopyFlatData[float32](f)
}

// tensorBytes returns a copy of t's bytes.
func tensorBytes(t *tensors.Tensor) (out []byte, err error) {
	err = t.ConstBytes(func(data []byte) { out = slices.Clone(data) })
	return out, err
}
