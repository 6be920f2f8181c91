package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	onnx "github.com/gomlx/compute-onnx/support/protos"
)

// NBits is one quantized [N, K] weight as the operands of ONNX Runtime's
// com.microsoft MatMulNBits: Y[M, N] = A[M, K] · dequantize(B)ᵀ, where
// every run of Block consecutive inputs of an output shares a scale and a
// zero point, w = (q - zero)·scale.
type NBits struct {
	Bits, Block, K, N int
	// B holds the codes, [N, K/Block, Block·Bits/8], unsigned, the even
	// input in the low nibble of a 4-bit pair.
	B []byte
	// Scales is [N, K/Block].
	Scales []float32
	// Zero is the zero points packed Bits to a byte, each output's row
	// padded to whole bytes; nil means MatMulNBits' default 2^(Bits-1).
	Zero []byte
}

// fusedMapping turns a quantized weight into MatMulNBits operands. Each
// Layout that the fused route runs has one; a scheme without one (NF4,
// whose 16 levels are not evenly spaced) is refused.
type fusedMapping func(t *Tensor) (*NBits, error)

// fusedMappings are the layouts the fused route runs.
var fusedMappings = map[Scheme]fusedMapping{
	Int8: int8NBits,
	Int4: int4NBits,
}

// toNBits maps t onto MatMulNBits' operands.
func toNBits(t *Tensor) (*NBits, error) {
	m, ok := fusedMappings[t.Scheme]
	if !ok {
		return nil, fmt.Errorf("%s weights have no fused product in ONNX Runtime", t.Scheme)
	}
	return m(t)
}

// nbitsBlock returns the block size MatMulNBits runs a per-row (or
// per-group) scale of width group with: MLAS takes powers of two from 16 to
// 256, and a per-row scale is repeated over each block of the row.
func nbitsBlock(group int) (int, error) {
	for b := 256; b >= 16; b /= 2 {
		if group%b == 0 {
			return b, nil
		}
	}
	return 0, fmt.Errorf("no MatMulNBits block size (a power of two from 16 to 256) divides the group of %d inputs", group)
}

// int8Block is the block of inputs 8-bit MatMulNBits runs Int8 weights
// with. With int8 activations (accuracy_level 4) MLAS quantizes each block
// of an activation row with its own scale, so a small block keeps one
// large activation (LLMs have a few, hundreds of times the others) from
// flattening the rest of a long block to a few levels: 32, as llama.cpp's
// Q8_0, costs no speed against 256 (docs/quantization.md) and keeps
// SmolLM2's greedy tokens.
const int8Block = 32

// int8NBits maps Int8 (signed codes, one scale per row) onto 8-bit
// MatMulNBits: the codes shifted by 128 (their two's complement with the
// top bit flipped) against the default zero point 128, the row's scale
// repeated over each block of int8Block inputs, and a width that is not a
// multiple of it padded with zeros (code 128), as MatMulNBits lays out a
// K that is not a multiple of its block.
func int8NBits(t *Tensor) (*NBits, error) { return int8NBitsBlock(t, int8Block), nil }

// int8NBitsBlock is int8NBits with blocks of block inputs.
func int8NBitsBlock(t *Tensor, block int) *NBits {
	per := (t.Cols + block - 1) / block
	width := per * block
	n := &NBits{Bits: 8, Block: block, K: t.Cols, N: t.Rows, B: make([]byte, t.Rows*width)}
	for r := range t.Rows {
		row := n.B[r*width : (r+1)*width]
		for c, code := range t.Codes[r*t.Cols : (r+1)*t.Cols] {
			row[c] = code ^ 0x80
		}
		for c := t.Cols; c < width; c++ {
			row[c] = 0x80
		}
	}
	n.Scales = make([]float32, t.Rows*per)
	for i := range n.Scales {
		n.Scales[i] = t.Scale[i/per]
	}
	return n
}

// int4NBits maps Int4 (unsigned codes two to a byte, a scale and a uint8
// zero point per group) onto 4-bit MatMulNBits: the codes as they are, the
// zero points packed two to a byte.
func int4NBits(t *Tensor) (*NBits, error) {
	if b, err := nbitsBlock(t.GroupSize); err != nil || b != t.GroupSize {
		return nil, fmt.Errorf("int4 group size %d is not a MatMulNBits block size (a power of two from 16 to 256)", t.GroupSize)
	}
	groups := t.Groups()
	n := &NBits{Bits: 4, Block: t.GroupSize, K: t.Cols, N: t.Rows, B: t.Codes, Scales: t.scales()}
	perRow := (groups + 1) / 2
	n.Zero = make([]byte, t.Rows*perRow)
	for r := range t.Rows {
		for g := range groups {
			n.Zero[r*perRow+g/2] |= (t.Zero[r*groups+g] & 0x0F) << (4 * (g % 2))
		}
	}
	return n, nil
}

// node returns the MatMulNBits node computing out from a and the
// initializers prefix+"_q", "_s" and "_z" that n.initializers makes.
func (n *NBits) node(prefix, a, out string, accuracy int) *onnx.NodeProto {
	in := []string{a, prefix + "_q", prefix + "_s"}
	if n.Zero != nil {
		in = append(in, prefix+"_z")
	}
	return &onnx.NodeProto{
		Name: prefix + "_matmulnbits", OpType: "MatMulNBits", Domain: "com.microsoft",
		Input: in, Output: []string{out},
		Attribute: []*onnx.AttributeProto{
			intAttr("K", n.K), intAttr("N", n.N), intAttr("bits", n.Bits),
			intAttr("block_size", n.Block), intAttr("accuracy_level", accuracy),
		},
	}
}

// initializers returns n's operands as the tensors node reads.
func (n *NBits) initializers(prefix string) []*onnx.TensorProto {
	blocks := (n.K + n.Block - 1) / n.Block
	out := []*onnx.TensorProto{
		bytesTensor(prefix+"_q", n.B, n.N, blocks, n.Block*n.Bits/8),
		floatTensor(prefix+"_s", n.Scales, n.N, blocks),
	}
	if n.Zero != nil {
		out = append(out, bytesTensor(prefix+"_z", n.Zero, len(n.Zero)))
	}
	return out
}

func intAttr(name string, v int) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: int64(v)}
}

func dims64(dims []int) []int64 {
	out := make([]int64, len(dims))
	for i, d := range dims {
		out[i] = int64(d)
	}
	return out
}

func bytesTensor(name string, data []byte, dims ...int) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, DataType: int32(onnx.TensorProto_UINT8), Dims: dims64(dims), RawData: data}
}

func floatTensor(name string, data []float32, dims ...int) *onnx.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnx.TensorProto{Name: name, DataType: int32(onnx.TensorProto_FLOAT), Dims: dims64(dims), RawData: raw}
}

// valueInfo declares a graph input or output of elem type and dims.
func valueInfo(name string, elem onnx.TensorProto_DataType, dims ...int) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(elem), Shape: shape}}}}
}
