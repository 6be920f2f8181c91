package weights

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes/float16"
	hfgguf "github.com/gomlx/go-huggingface/models/gguf"
	"github.com/gomlx/gomlx/core/tensors"
)

// dequantize decodes Q8_0 and Q4_0 blocks as ggml's dequantize_row_q8_0 and
// dequantize_row_q4_0 do: value = code · d, Q4_0 codes offset by 8, its
// values j and j+16 sharing byte j (low and high nibble).
func dequantize(t *testing.T, typ GGUFType, data []byte) []float32 {
	t.Helper()
	var out []float32
	switch typ {
	case GGUFQ8_0:
		for b := 0; b < len(data); b += 34 {
			d := float16.FromBits(binary.LittleEndian.Uint16(data[b:])).Float32()
			for _, q := range data[b+2 : b+34] {
				out = append(out, float32(int8(q))*d)
			}
		}
	case GGUFQ4_0:
		for b := 0; b < len(data); b += 18 {
			d := float16.FromBits(binary.LittleEndian.Uint16(data[b:])).Float32()
			var block [32]float32
			for j, q := range data[b+2 : b+18] {
				block[j] = float32(int(q&15)-8) * d
				block[j+16] = float32(int(q>>4)-8) * d
			}
			out = append(out, block[:]...)
		}
	default:
		t.Fatalf("no dequantizer for %s", typ)
	}
	return out
}

// randomValues returns n normal values with a few blocks of 32 made special:
// all zeros, and one whose largest magnitude is negative.
func randomValues(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	if n >= 96 {
		clear(x[32:64])
		x[70] = -9
	}
	return x
}

// q4kBlock is one handmade Q4_K block (256 values): d = 1, dmin = 0.5,
// sub-blocks 0-3 with scale 2 and min 1, 4-7 with scale 3 and min 1, and
// codes i%16. want gives the values ggml's dequantize_row_q4_K makes of it:
// d·scale·code − dmin·min, sub-block j holding values 32j..32j+31 whose codes
// sit in the low (even j) or high (odd j) nibbles of bytes 32·(j/2)...
func q4kBlock() (raw []byte, want []float32) {
	raw = binary.LittleEndian.AppendUint16(nil, float16.FromFloat32(1).Bits())
	raw = binary.LittleEndian.AppendUint16(raw, float16.FromFloat32(0.5).Bits())
	raw = append(raw, 2, 2, 2, 2, 1, 1, 1, 1, 0x13, 0x13, 0x13, 0x13)
	code := func(i int) int { return i % 16 }
	qs := make([]byte, 128)
	for i := range 256 {
		sub, l := i/32, i%32
		byteIdx := 32*(sub/2) + l
		if sub%2 == 0 {
			qs[byteIdx] |= byte(code(i))
		} else {
			qs[byteIdx] |= byte(code(i)) << 4
		}
		scale := 2.0
		if sub >= 4 {
			scale = 3
		}
		want = append(want, float32(scale*float64(code(i))-0.5))
	}
	return append(raw, qs...), want
}

func ggufSample() ([]GGUFKV, []GGUFTensor) {
	meta := []GGUFKV{
		{"general.architecture", "test"},
		{"general.alignment", uint32(32)},
		{"u8", uint8(7)}, {"i8", int8(-7)}, {"u16", uint16(700)}, {"i16", int16(-700)},
		{"u32", uint32(70000)}, {"i32", int32(-70000)}, {"u64", uint64(1) << 40}, {"i64", int64(-1) << 40},
		{"f32", float32(1e-5)}, {"f64", 0.1}, {"yes", true},
		{"tokens", []string{"<unk>", "<s>", "", "héllo"}},
		{"ids", []int32{3, -1, 4}}, {"scores", []float32{0.5, -1.25}}, {"sizes", []uint64{1, 1 << 33}},
		{"flags", []bool{true, false}}, {"bytes", []uint8{1, 2, 255}},
	}
	q4k, _ := q4kBlock()
	tensors := []GGUFTensor{
		{Name: "vec", Type: GGUFF32, Dims: []int{7}, Values: randomValues(1, 7)},
		{Name: "half", Type: GGUFF16, Dims: []int{5, 96}, Values: randomValues(2, 5*96)},
		{Name: "q8", Type: GGUFQ8_0, Dims: []int{5, 96}, Values: randomValues(3, 5*96)},
		{Name: "q4", Type: GGUFQ4_0, Dims: []int{3, 64}, Values: randomValues(4, 3*64)},
		{Name: "cube", Type: GGUFF32, Dims: []int{2, 3, 5}, Values: randomValues(5, 30)},
		{Name: "q4k", Type: hfgguf.TensorTypeQ4_K, Dims: []int{1, 256}, Raw: q4k},
		// Last, and 768 bytes long: the file ends with its data, no padding.
		{Name: "full", Type: GGUFF32, Dims: []int{3, 64}, Values: randomValues(6, 3*64)},
	}
	return meta, tensors
}

func writeSample(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sample.gguf")
	meta, ts := ggufSample()
	if err := WriteGGUF(path, meta, ts); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestQuantizeFollowsGGMLReference(t *testing.T) {
	// Q8_0: amax 127 gives d = 1, so codes are round(x), halves away from zero.
	x := make([]float32, 32)
	copy(x, []float32{127, 2.5, -3.5, 0.49, -126.6, 0})
	got := QuantizeQ8_0(x)
	if d := binary.LittleEndian.Uint16(got); d != float16.FromFloat32(1).Bits() {
		t.Errorf("Q8_0 scale bits %#x, want 1.0", d)
	}
	if want := []int8{127, 3, -4, 0, -127, 0}; !slices.Equal(toInt8(got[2:8]), want) {
		t.Errorf("Q8_0 codes %v, want %v", toInt8(got[2:8]), want)
	}
	// Q4_0: the largest magnitude is -8, so d = 1 and code = min(15, int(x+8.5)).
	copy(x, []float32{-8, 7, 8, -0.6, 3.4, 0})
	x[16], x[17] = 7.6, -7.4
	got = QuantizeQ4_0(x)
	if d := binary.LittleEndian.Uint16(got); d != float16.FromFloat32(1).Bits() {
		t.Errorf("Q4_0 scale bits %#x, want 1.0", d)
	}
	low := []byte{0, 15, 15, 7, 11, 8}
	for j, want := range low {
		if got[2+j]&15 != want {
			t.Errorf("Q4_0 value %d (%v): code %d, want %d", j, x[j], got[2+j]&15, want)
		}
	}
	if got[2]>>4 != 15 || got[3]>>4 != 1 {
		t.Errorf("Q4_0 values 16, 17 (%v, %v): codes %d, %d in the high nibbles, want 15, 1", x[16], x[17], got[2]>>4, got[3]>>4)
	}
	// A block of zeros has scale 0 and zero codes (8 for Q4_0, whose scale is
	// 0/-8 = -0, float16 0x8000, as in ggml).
	zero := make([]float32, 32)
	if q := QuantizeQ8_0(zero); !bytes.Equal(q, make([]byte, 34)) {
		t.Errorf("Q8_0 of zeros = %v", q)
	}
	if q := QuantizeQ4_0(zero); !bytes.Equal(q[:2], []byte{0, 0x80}) || q[2] != 0x88 {
		t.Errorf("Q4_0 of zeros = %v", q)
	}
}

func toInt8(b []byte) []int8 {
	out := make([]int8, len(b))
	for i, v := range b {
		out[i] = int8(v)
	}
	return out
}

// TestGGUFReadBackByGoHuggingFace checks what WriteGGUF wrote with
// go-huggingface's reader, independently of ReadGGUF: the header, the
// alignment, the GGML dimension order, and each tensor's bytes.
func TestGGUFReadBackByGoHuggingFace(t *testing.T) {
	path := writeSample(t)
	meta, ts := ggufSample()
	f, err := hfgguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 || f.DataOffset()%32 != 0 {
		t.Errorf("version %d, alignment %d, data offset %d", f.Version, f.Alignment, f.DataOffset())
	}
	if len(f.KeyValues) != len(meta) {
		t.Fatalf("%d metadata entries, want %d", len(f.KeyValues), len(meta))
	}
	for i, kv := range meta {
		if got := f.KeyValues[i]; got.Key != kv.Key || !reflect.DeepEqual(got.Raw(), kv.Value) {
			t.Errorf("metadata %d: %s = %#v, want %s = %#v", i, got.Key, got.Raw(), kv.Key, kv.Value)
		}
	}
	r, err := hfgguf.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tt := range ts {
		raw, info, err := r.ReadTensorRaw(tt.Name)
		if err != nil {
			t.Fatal(err)
		}
		ne := make([]uint64, len(tt.Dims))
		for i, d := range tt.Dims {
			ne[len(ne)-1-i] = uint64(d)
		}
		if !slices.Equal(info.Shape, ne) || info.Type != tt.Type || info.Offset%32 != 0 {
			t.Errorf("%s: GGML shape %v type %s offset %d; want %v %s, aligned", tt.Name, info.Shape, info.Type, info.Offset, ne, tt.Type)
		}
		var want []byte
		switch tt.Type {
		case GGUFF32:
			for _, v := range tt.Values {
				want = binary.LittleEndian.AppendUint32(want, math.Float32bits(v))
			}
		case GGUFF16:
			for _, v := range tt.Values {
				want = binary.LittleEndian.AppendUint16(want, float16.FromFloat32(v).Bits())
			}
		case GGUFQ8_0:
			want = QuantizeQ8_0(tt.Values)
		case GGUFQ4_0:
			want = QuantizeQ4_0(tt.Values)
		default:
			want = tt.Raw
		}
		if !bytes.Equal(raw, want) {
			t.Errorf("%s: %d bytes in the file differ from the %d expected", tt.Name, len(raw), len(want))
		}
	}
}

func TestGGUFRoundTrip(t *testing.T) {
	path := writeSample(t)
	meta, ts := ggufSample()
	set, info, err := ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.Metadata, meta) {
		t.Errorf("metadata read back\n%v\nwant\n%v", info.Metadata, meta)
	}
	if f, err := info.MetaFloat("f32"); err != nil || f != 1e-5 {
		t.Errorf("MetaFloat(f32) = %v, %v; want 1e-05", f, err)
	}
	if n, err := info.MetaInt("u64"); err != nil || n != 1<<40 {
		t.Errorf("MetaInt(u64) = %v, %v", n, err)
	}
	if _, err := info.MetaInt("f32"); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"f32"`) {
		t.Errorf("MetaInt of a float: err = %v", err)
	}
	if _, err := info.MetaString("absent"); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"absent"`) {
		t.Errorf("missing key: err = %v", err)
	}
	for _, tt := range ts {
		ti, ok := info.Tensor(tt.Name)
		if !ok || ti.Type != tt.Type || !slices.Equal(ti.Dims, tt.Dims) {
			t.Errorf("%s: info %+v, want type %s dims %v", tt.Name, ti, tt.Type, tt.Dims)
		}
		x, err := set.Float32(tt.Name, tt.Dims...)
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](x)
		var want []float32
		bound := func(int) float64 { return 0 }
		switch tt.Type {
		case GGUFF32:
			want = tt.Values
		case GGUFF16:
			for _, v := range tt.Values {
				want = append(want, float16.FromFloat32(v).Float32())
			}
			bound = func(i int) float64 { return math.Abs(float64(tt.Values[i])) / 2048 }
		case GGUFQ8_0:
			// |x − q·d| ≤ d/2 with d = amax/127, plus d's float16 rounding
			// (relative 2⁻¹¹) times |q| ≤ 127.
			want = dequantize(t, tt.Type, QuantizeQ8_0(tt.Values))
			bound = func(i int) float64 { return blockAmax(tt.Values, i) / 127 * (0.5 + 127.0/2048 + 1e-3) }
		case GGUFQ4_0:
			// |x − (q−8)·d| ≤ |d|/2 with |d| = amax/8, except at the clamp
			// (code 16 becomes 15): ≤ |d|; plus d's float16 rounding times 8.
			want = dequantize(t, tt.Type, QuantizeQ4_0(tt.Values))
			bound = func(i int) float64 { return blockAmax(tt.Values, i) / 8 * (1 + 8.0/2048 + 1e-3) }
		default:
			_, want = q4kBlock()
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s): ReadGGUF's values differ from the expected decoding", tt.Name, tt.Type)
		}
		var worst float64
		for i, v := range tt.Values {
			e := math.Abs(float64(v - got[i]))
			worst = max(worst, e)
			if e > bound(i) {
				t.Errorf("%s value %d: %v read back as %v, error above %.3g", tt.Name, i, v, got[i], bound(i))
				break
			}
		}
		if tt.Values != nil {
			t.Logf("%s (%s): max |x − read back| = %.3g", tt.Name, tt.Type, worst)
		}
	}
}

// blockAmax returns the largest magnitude in the block of 32 holding x[i].
func blockAmax(x []float32, i int) float64 {
	var m float64
	for _, v := range x[i/32*32 : i/32*32+32] {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

func TestWriteGGUFRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.gguf")
	for _, tc := range []struct {
		meta    []GGUFKV
		tensors []GGUFTensor
		want    string
	}{
		{nil, []GGUFTensor{{Name: "w", Type: GGUFQ8_0, Dims: []int{2, 48}, Values: make([]float32, 96)}}, `"w": rows of 48`},
		{nil, []GGUFTensor{{Name: "w", Type: GGUFF32, Dims: []int{2, 3}, Values: make([]float32, 5)}}, `"w": 5 values`},
		{nil, []GGUFTensor{{Name: "w", Type: hfgguf.TensorTypeQ6_K, Dims: []int{256}, Values: make([]float32, 256)}}, `give its bytes in Raw`},
		{nil, []GGUFTensor{{Name: "w", Type: GGUFF32, Dims: []int{1}, Values: []float32{1}}, {Name: "w", Type: GGUFF32, Dims: []int{1}, Values: []float32{1}}}, `"w": given twice`},
		{[]GGUFKV{{"n", 3}}, nil, `"n": a int has no GGUF type`},
		{[]GGUFKV{{"general.alignment", uint64(32)}}, nil, `"general.alignment" must be a uint32`},
	} {
		err := WriteGGUF(path, tc.meta, tc.tensors)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v; want one naming %s and %s", err, path, tc.want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a rejected write left %s behind", path)
	}
}

// TestBadGGUF reads truncated and corrupted files: each is an error naming
// the file (and the tensor at fault), never a panic.
func TestBadGGUF(t *testing.T) {
	good, err := os.ReadFile(writeSample(t))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := hfgguf.Open(writeSample(t))
	headerEnd := int(f.DataOffset())
	// typeAt returns the position of tensor name's type field in the header.
	typeAt := func(name string, dims int) int {
		i := bytes.Index(good, appendGGUFString(nil, name))
		return i + 8 + len(name) + 4 + 8*dims // length, name, n_dims, dims
	}
	patch := func(at int, v uint64, size int) []byte {
		b := bytes.Clone(good)
		if size == 4 {
			binary.LittleEndian.PutUint32(b[at:], uint32(v))
		} else {
			binary.LittleEndian.PutUint64(b[at:], v)
		}
		return b
	}
	alignmentAt := bytes.Index(good, appendGGUFString(nil, "general.alignment")) + 8 + len("general.alignment") + 4
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"magic only", good[:3], "magic"},
		{"wrong magic", append([]byte("GGML"), good[4:]...), `invalid magic "GGML"`},
		{"cut in metadata", good[:60], "kv pair"},
		{"cut in tensor infos", good[:headerEnd-40], "tensor info"},
		{"cut in data", good[:len(good)-1], `tensor "full": truncated`},
		{"no data", good[:headerEnd], "truncated"},
		{"unknown tensor type", patch(typeAt("q4", 2), 99, 4), `tensor "q4": tensor type unknown(99) is not supported`},
		{"IQ type", patch(typeAt("q8", 2), uint64(hfgguf.TensorTypeIQ2_XXS), 4), `tensor "q8": tensor type IQ2_XXS is not supported`},
		{"huge dimension", patch(typeAt("vec", 1)-8, 1<<62, 8), `tensor "vec": GGML dimensions`},
		{"offset past the end", patch(typeAt("cube", 3)+4, 1<<40, 8), `tensor "cube": truncated`},
		{"partial block", patch(typeAt("q4", 2)-16, 48, 8), `tensor "q4": rows of 48`},
		{"overlapping tensors", patch(typeAt("cube", 3)+4, 1504, 8), "overlapping tensor"},
		{"unaligned offset", patch(typeAt("cube", 3)+4, 1636, 8), `tensor "cube": offset 1636 is not a multiple of the alignment 32`},
		{"declared type not its data's", patch(typeAt("q8", 2), uint64(GGUFQ4_0), 4), `tensor "q8": Q4_0 [5 96] data takes 270 bytes, but 512 lie between`},
		{"alignment not a power of two", patch(alignmentAt, 48, 4), `metadata key "general.alignment" is 48; it must be a power of two`},
		{"huge alignment", patch(alignmentAt, 1<<31, 4), `metadata key "general.alignment" is 2147483648`},
		{"zero alignment", patch(alignmentAt, 0, 4), `metadata key "general.alignment" is 0`},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".gguf")
		os.WriteFile(path, tc.data, 0o644)
		_, _, err := ReadGGUF(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want one naming %s and %s", tc.name, err, path, tc.want)
		}
	}
	if _, _, err := ReadGGUF(filepath.Join(dir, "absent.gguf")); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestGGUFTensorsOutOfDataOrder reads a legal file whose tensor infos are
// not in data order (b's data comes before a's): each name must get its own
// data (go-huggingface v0.4.12 alone mixes them up; see mendTensorIndex).
func TestGGUFTensorsOutOfDataOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swapped.gguf")
	a, b := randomValues(7, 64), randomValues(8, 64)
	if err := WriteGGUF(path, nil, []GGUFTensor{
		{Name: "a", Type: GGUFF32, Dims: []int{2, 32}, Values: a},
		{Name: "b", Type: GGUFF32, Dims: []int{2, 32}, Values: b},
	}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	offsetAt := func(name string) int { return bytes.Index(data, appendGGUFString(nil, name)) + 8 + 1 + 4 + 16 + 4 }
	oa, ob := offsetAt("a"), offsetAt("b")
	va, vb := binary.LittleEndian.Uint64(data[oa:]), binary.LittleEndian.Uint64(data[ob:])
	binary.LittleEndian.PutUint64(data[oa:], vb)
	binary.LittleEndian.PutUint64(data[ob:], va)
	os.WriteFile(path, data, 0o644)
	set, info, err := ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]float32{"a": b, "b": a} {
		x, _ := set.Get(name)
		if !slices.Equal(tensors.MustCopyFlatData[float32](x), want) {
			t.Errorf("tensor %q did not get the data its offset points to", name)
		}
	}
	if info.Tensors[0].Name != "b" {
		t.Errorf("info.Tensors not in data order: %v", info.Tensors)
	}
}

// FuzzReadGGUF feeds arbitrary bytes to ReadGGUF: it must return tensors or
// an error, never panic.
func FuzzReadGGUF(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.gguf")
	meta, ts := ggufSample()
	if err := WriteGGUF(path, meta[:3], ts[:4]); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:100])
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.gguf")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if set, _, err := ReadGGUF(p); err == nil {
			for _, n := range set.Names() {
				x, _ := set.Get(n)
				_ = x.Shape()
			}
		}
	})
}
