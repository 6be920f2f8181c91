package quant

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX graphs read best unqualified
)

// The names under which a quantized weight w is stored, in Params and in
// safetensors files, beside w itself (which holds the codes).
const (
	suffixScale       = "_scale"        // float32 [rows] (int8) or [rows, groups]
	suffixZero        = "_zero"         // uint8 [rows, groups] (int4)
	suffixScaleCodes  = "_scale_codes"  // int8 [groups·rows padded to 256] (nf4, double quantized)
	suffixScaleScale  = "_scale_scale"  // float32 [blocks of 256] (nf4, double quantized)
	suffixScaleOffset = "_scale_offset" // float32 scalar (nf4, double quantized)
)

// stored reads a quantized weight's tensors inside a graph.
type stored func(suffix string) *Node

// dequantize builds the float32 [rows, cols] weight from its stored codes
// and scales: the same arithmetic as Tensor.Dequantize, as graph
// operations that every backend runs (GoMLX's fused quantized kernels are
// not used; see the package doc).
func dequantize(codes *Node, t *Layout, get stored) *Node {
	g := codes.Graph()
	rows, cols := t.Rows, t.Cols
	var scale *Node
	if t.DoubleQuant {
		blocks := Reshape(ConvertDType(get(suffixScaleCodes), dtypes.Float32), -1, doubleQuantBlock)
		full := Add(Mul(blocks, ExpandAxes(get(suffixScaleScale), -1)), get(suffixScaleOffset))
		scale = Slice(Reshape(full, -1), AxisRange(0, rows*t.Groups()))
	} else {
		scale = get(suffixScale)
	}
	if t.Scheme == Int8 {
		return Mul(ConvertDType(codes, dtypes.Float32), Reshape(scale, rows, 1))
	}
	// Two 4-bit codes per byte, the even column in the low nibble.
	low := BitwiseAnd(codes, Scalar(g, dtypes.Uint8, 0x0F))
	high := BitwiseShiftRightLogicalScalar(codes, uint8(4))
	unpacked := Reshape(Stack([]*Node{low, high}, -1), rows, t.Groups(), t.GroupSize)
	var w *Node
	if t.Scheme == Int4 {
		zero := ConvertDType(Reshape(get(suffixZero), rows, t.Groups(), 1), dtypes.Float32)
		w = Sub(ConvertDType(unpacked, dtypes.Float32), zero)
	} else {
		table := Const(g, compute.NF4LookupTable[:])
		w = Gather(table, ExpandAxes(ConvertDType(unpacked, dtypes.Int32), -1))
	}
	return Reshape(Mul(w, Reshape(scale, rows, t.Groups(), 1)), rows, cols)
}
