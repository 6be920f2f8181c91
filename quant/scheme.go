package quant

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"
)

// Scheme names a weight quantization scheme.
type Scheme string

// The schemes. Each quantizes a linear layer's [out, in] weight matrix row
// by row (a row is one output channel), so that every scale belongs to one
// output and a run of consecutive inputs, as in GPTQ, AWQ, bitsandbytes and
// llama.cpp.
const (
	// Int8 is symmetric 8-bit quantization with one scale per output
	// channel: scale = max|w|/127, q = round(w/scale) in [-127, 127].
	Int8 Scheme = "int8"
	// Int4 is asymmetric 4-bit quantization in groups of GroupSize inputs:
	// scale = (max-min)/15, zero = round(-min/scale) in [0, 15],
	// q = clamp(round(w/scale)+zero, 0, 15), w ≈ (q-zero)·scale.
	Int4 Scheme = "int4"
	// NF4 is QLoRA's 4-bit NormalFloat: each block of GroupSize inputs is
	// divided by its absolute maximum and every value rounded to the nearest
	// of 16 levels placed at quantiles of a normal distribution
	// (compute.NF4LookupTable, the table GoMLX's kernels use). With
	// DoubleQuant, the block maxima are themselves quantized to 8 bits, in
	// blocks of 256 after subtracting their mean, as QLoRA does.
	NF4 Scheme = "nf4"
)

// Schemes lists the supported schemes.
var Schemes = []Scheme{Int8, Int4, NF4}

// DefaultGroupSize is the group (block) size of Int4 and NF4 when a Config
// gives none: 64, bitsandbytes' NF4 block size.
const DefaultGroupSize = 64

// doubleQuantBlock is how many NF4 block maxima share one scale when they
// are quantized again (QLoRA's 256).
const doubleQuantBlock = 256

// ParseScheme returns the scheme called name ("int8", "int4", "nf4").
func ParseScheme(name string) (Scheme, error) {
	s := Scheme(strings.ToLower(strings.TrimSpace(name)))
	if slices.Contains(Schemes, s) {
		return s, nil
	}
	return "", fmt.Errorf("quant: unknown scheme %q (supported: int8, int4, nf4)", name)
}

// Bits returns the bits per stored weight code.
func (s Scheme) Bits() int {
	if s == Int8 {
		return 8
	}
	return 4
}

// Grouped reports whether the scheme has one scale per group of inputs
// (Int4, NF4) rather than per output channel (Int8).
func (s Scheme) Grouped() bool { return s != Int8 }

// Layout describes a quantized [Rows, Cols] weight matrix (Rows outputs,
// Cols inputs) without its data.
type Layout struct {
	Scheme     Scheme
	Rows, Cols int
	// GroupSize is the number of inputs sharing a scale (Int4, NF4); for
	// Int8 it equals Cols.
	GroupSize int
	// DoubleQuant reports NF4 block maxima quantized again to 8 bits.
	DoubleQuant bool
}

// Groups returns the number of scales per row.
func (l *Layout) Groups() int { return l.Cols / l.GroupSize }

// Tensor is one quantized weight matrix, held on the host.
type Tensor struct {
	Layout
	// Codes are the weight codes: for Int8 one signed byte per weight
	// (stored as its two's complement in a byte), for Int4 and NF4 two
	// 4-bit codes per byte, the even column in the low nibble.
	Codes []byte
	// Scale is [Rows, Cols/GroupSize] (Int8: [Rows]); with DoubleQuant it
	// is nil and ScaleCodes, ScaleScale and ScaleOffset give it.
	Scale []float32
	// Zero holds Int4's zero points, one byte per scale.
	Zero []uint8
	// ScaleCodes, ScaleScale and ScaleOffset are NF4's double-quantized
	// block maxima: max = ScaleCodes[i]·ScaleScale[i/256] + ScaleOffset,
	// ScaleCodes padded to a multiple of 256.
	ScaleCodes  []int8
	ScaleScale  []float32
	ScaleOffset float32
}

// Bytes returns the size of the stored tensor: codes, scales and zeros
// (counted from the data; Quantized.Bytes computes it from the layouts, and
// a test checks that the two agree).
func (t *Tensor) Bytes() int {
	n := len(t.Codes) + 4*len(t.Scale) + len(t.Zero) + len(t.ScaleCodes) + 4*len(t.ScaleScale)
	if t.DoubleQuant {
		n += 4 // ScaleOffset
	}
	return n
}

// checkShape validates a [rows, cols] weight for scheme and group size.
func checkShape(s Scheme, rows, cols, group int) error {
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("a weight matrix needs positive dimensions, got [%d, %d]", rows, cols)
	}
	if !s.Grouped() {
		return nil
	}
	if group <= 0 {
		return fmt.Errorf("%s needs a positive group size, got %d", s, group)
	}
	if cols%group != 0 {
		return fmt.Errorf("group size %d does not divide the width %d", group, cols)
	}
	if cols%2 != 0 {
		return fmt.Errorf("4-bit codes pack two per byte: the width %d must be even", cols)
	}
	return nil
}

// Quantize quantizes w, a row-major [rows, cols] matrix, with scheme s.
// group is the group size of Int4 and NF4 (ignored for Int8); doubleQuant
// applies to NF4 only.
func Quantize(w []float32, rows, cols int, s Scheme, group int, doubleQuant bool) (*Tensor, error) {
	if len(w) != rows*cols {
		return nil, fmt.Errorf("quant: %d values for a [%d, %d] matrix", len(w), rows, cols)
	}
	if !slices.Contains(Schemes, s) {
		return nil, fmt.Errorf("quant: unknown scheme %q", s)
	}
	if !s.Grouped() {
		group = cols
	}
	if err := checkShape(s, rows, cols, group); err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("quant: weight [%d, %d] is %v", i/cols, i%cols, v)
		}
	}
	t := &Tensor{Layout: Layout{Scheme: s, Rows: rows, Cols: cols, GroupSize: group, DoubleQuant: doubleQuant && s == NF4}}
	switch s {
	case Int8:
		t.quantizeInt8(w)
	case Int4:
		t.quantizeInt4(w)
	case NF4:
		t.quantizeNF4(w)
		if doubleQuant {
			t.doubleQuantize()
		}
	}
	return t, nil
}

func (t *Tensor) quantizeInt8(w []float32) {
	t.Codes = make([]byte, len(w))
	t.Scale = make([]float32, t.Rows)
	for r := range t.Rows {
		row := w[r*t.Cols : (r+1)*t.Cols]
		amax := float32(0)
		for _, v := range row {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		scale := amax / 127
		if scale == 0 {
			scale = 1 // an all-zero row: any scale gives zero codes
		}
		t.Scale[r] = scale
		for c, v := range row {
			q := max(-127, min(127, math.Round(float64(v/scale))))
			t.Codes[r*t.Cols+c] = byte(int8(q))
		}
	}
}

func (t *Tensor) quantizeInt4(w []float32) {
	groups := t.Groups()
	codes := make([]uint8, len(w))
	t.Scale = make([]float32, t.Rows*groups)
	t.Zero = make([]uint8, t.Rows*groups)
	for r := range t.Rows {
		for g := range groups {
			block := w[r*t.Cols+g*t.GroupSize : r*t.Cols+(g+1)*t.GroupSize]
			lo, hi := float32(0), float32(0) // the range includes 0, so 0 is exact
			for _, v := range block {
				lo, hi = min(lo, v), max(hi, v)
			}
			scale := (hi - lo) / 15
			if scale == 0 {
				scale = 1
			}
			zero := max(0, min(15, math.Round(float64(-lo/scale))))
			t.Scale[r*groups+g], t.Zero[r*groups+g] = scale, uint8(zero)
			for i, v := range block {
				q := max(0, min(15, math.Round(float64(v/scale))+zero))
				codes[r*t.Cols+g*t.GroupSize+i] = uint8(q)
			}
		}
	}
	t.Codes = pack4(codes)
}

func (t *Tensor) quantizeNF4(w []float32) {
	groups := t.Groups()
	codes := make([]uint8, len(w))
	t.Scale = make([]float32, t.Rows*groups)
	for r := range t.Rows {
		for g := range groups {
			block := w[r*t.Cols+g*t.GroupSize : r*t.Cols+(g+1)*t.GroupSize]
			amax := float32(0)
			for _, v := range block {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			t.Scale[r*groups+g] = amax
			if amax == 0 {
				amax = 1
			}
			for i, v := range block {
				codes[r*t.Cols+g*t.GroupSize+i] = nearestNF4(v / amax)
			}
		}
	}
	t.Codes = pack4(codes)
}

// nearestNF4 returns the index of the NF4 level nearest to x in [-1, 1].
func nearestNF4(x float32) uint8 {
	best, dist := 0, float32(math.Inf(1))
	for i, level := range compute.NF4LookupTable {
		if d := float32(math.Abs(float64(x - level))); d < dist {
			best, dist = i, d
		}
	}
	return uint8(best)
}

// doubleQuantize replaces Scale by 8-bit codes: the maxima minus their mean,
// in blocks of 256, each block scaled by its absolute maximum / 127.
func (t *Tensor) doubleQuantize() {
	n := len(t.Scale)
	mean := 0.0
	for _, v := range t.Scale {
		mean += float64(v)
	}
	t.ScaleOffset = float32(mean / float64(n))
	blocks := (n + doubleQuantBlock - 1) / doubleQuantBlock
	t.ScaleCodes = make([]int8, blocks*doubleQuantBlock)
	t.ScaleScale = make([]float32, blocks)
	for b := range blocks {
		part := t.Scale[b*doubleQuantBlock : min(n, (b+1)*doubleQuantBlock)]
		amax := float32(0)
		for _, v := range part {
			amax = max(amax, float32(math.Abs(float64(v-t.ScaleOffset))))
		}
		scale := amax / 127
		if scale == 0 {
			scale = 1
		}
		t.ScaleScale[b] = scale
		for i, v := range part {
			t.ScaleCodes[b*doubleQuantBlock+i] = int8(max(-127, min(127, math.Round(float64((v-t.ScaleOffset)/scale)))))
		}
	}
	t.Scale = nil
}

// scales returns the per-group scales (Int8: per row), undoing double
// quantization.
func (t *Tensor) scales() []float32 {
	if t.Scale != nil {
		return t.Scale
	}
	n := t.Rows * t.Groups()
	s := make([]float32, n)
	for i := range n {
		s[i] = float32(t.ScaleCodes[i])*t.ScaleScale[i/doubleQuantBlock] + t.ScaleOffset
	}
	return s
}

// Dequantize returns the row-major [Rows, Cols] float32 matrix the codes
// stand for: what the network computes with.
func (t *Tensor) Dequantize() []float32 {
	w := make([]float32, t.Rows*t.Cols)
	scales := t.scales()
	switch t.Scheme {
	case Int8:
		for i, c := range t.Codes {
			w[i] = float32(int8(c)) * scales[i/t.Cols]
		}
	case Int4:
		for i := range w {
			g := (i/t.Cols)*t.Groups() + (i%t.Cols)/t.GroupSize
			w[i] = (float32(code4(t.Codes, i)) - float32(t.Zero[g])) * scales[g]
		}
	case NF4:
		for i := range w {
			g := (i/t.Cols)*t.Groups() + (i%t.Cols)/t.GroupSize
			w[i] = compute.NF4LookupTable[code4(t.Codes, i)] * scales[g]
		}
	}
	return w
}

// pack4 packs 4-bit codes two per byte, the even index in the low nibble.
func pack4(codes []uint8) []byte {
	packed := make([]byte, len(codes)/2)
	for i := range packed {
		packed[i] = codes[2*i]&0x0F | codes[2*i+1]<<4
	}
	return packed
}

// code4 returns the i-th 4-bit code of packed.
func code4(packed []byte, i int) uint8 {
	b := packed[i/2]
	if i%2 == 1 {
		return b >> 4
	}
	return b & 0x0F
}
