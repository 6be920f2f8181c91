package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
)

const golden = "../testdata/golden"

func rawBytes(t *testing.T, x *tensors.Tensor) []byte {
	t.Helper()
	var b []byte
	if err := x.ConstBytes(func(d []byte) { b = append([]byte(nil), d...) }); err != nil {
		t.Fatal(err)
	}
	return b
}

func sampleSet() *Set {
	s := NewSet()
	s.Add("a.weight", tensors.FromFlatDataAndDimensions([]float32{1, -2, 3.5, 4, 5, 6}, 2, 3), "")
	s.Add("b.bf16", tensors.FromFlatDataAndDimensions(bfloat16.FromFloat32s(0.5, -1.25, 3), 3), "")
	s.Add("c.ids", tensors.FromFlatDataAndDimensions([]int64{7, 8, 9, 10}, 2, 2), "")
	s.Add("d.scalar", tensors.FromScalar(float32(2.5)), "")
	return s
}

func TestSafetensorsRoundTripIsExact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	in := sampleSet()
	if err := WriteSafetensors(path, in, map[string]string{"note": "round trip"}); err != nil {
		t.Fatal(err)
	}
	out, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(out.Names(), ","), strings.Join(in.Names(), ","); got != want {
		t.Fatalf("names after round trip %s, want %s", got, want)
	}
	for _, name := range in.Names() {
		a, _ := in.Get(name)
		b, _ := out.Get(name)
		if !a.Shape().Equal(b.Shape()) || !bytes.Equal(rawBytes(t, a), rawBytes(t, b)) {
			t.Errorf("tensor %q: wrote %s, read back %s with different bytes", name, a.Shape(), b.Shape())
		}
	}
	// Hugging Face's layout: 8-byte length, JSON header with dtype, shape, data_offsets and metadata.
	data, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(data)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatalf("header is not JSON: %v", err)
	}
	var meta map[string]string
	json.Unmarshal(header["__metadata__"], &meta)
	if meta["format"] != "pt" || meta["note"] != "round trip" {
		t.Errorf("__metadata__ = %v; want format=pt and the note", meta)
	}
	var info struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	json.Unmarshal(header["b.bf16"], &info)
	if info.DType != "BF16" || len(info.Shape) != 1 || info.Shape[0] != 3 || info.DataOffsets[1]-info.DataOffsets[0] != 6 {
		t.Errorf("header entry for b.bf16 = %+v", info)
	}
	// Our files read back by the independent reader used by the reference scripts is checked in
	// scripts/reference; here, the golden files written by Python read exactly.
}

// TestSafetensorsReadLazily checks that a safetensors set reads each tensor
// from its file when asked, and only then: shapes and names come from the
// header, a shape check fails before any read, and a file gone since it
// was opened is an error naming it and the tensor.
func TestSafetensorsReadLazily(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lazy.safetensors")
	in := sampleSet()
	must(t, WriteSafetensors(path, in, nil))
	out, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	name := in.Names()[0]
	want, _ := in.Get(name)
	if shape, ok := out.Shape(name); !ok || !shape.Equal(want.Shape()) || !out.Has(name) || !out.IsLazy(name) {
		t.Fatalf("%s: shape %v (%v), has %v, lazy %v; want %s from the header, left in the file", name, shape, ok, out.Has(name), out.IsLazy(name), want.Shape())
	}
	if _, err := out.Float32(name, 12345); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("wrong shape asked for: err = %v", err)
	}
	a, _ := out.Get(name)
	b, _ := out.Get(name)
	if a == b || !bytes.Equal(rawBytes(t, a), rawBytes(t, want)) || !bytes.Equal(rawBytes(t, b), rawBytes(t, want)) {
		t.Errorf("%s: two reads gave the same tensor (%v) or bytes that differ from what was written", name, a == b)
	}
	// The file is mapped: removing it leaves the mapping (and the tensors)
	// readable; truncating it under the mapping is an error naming the file
	// and tensor, not a crash.
	must(t, os.Remove(path))
	if got, err := out.Float32(name, want.Shape().Dimensions...); err != nil || !bytes.Equal(rawBytes(t, got), rawBytes(t, want)) {
		t.Errorf("file removed after it was opened: err = %v; want the tensor as written", err)
	}
}

func TestMappedFileTruncatedIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.safetensors")
	in := NewSet()
	in.Add("w", tensors.FromFlatDataAndDimensions(make([]float32, 1<<18), 512, 512), "") // 1 MB: many pages
	must(t, WriteSafetensors(path, in, nil))
	out, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.Truncate(path, 4096)) // the header survives; the data's pages are gone
	for _, read := range []struct {
		how string
		fn  func() error
	}{
		{"ViewFloat32", func() error {
			return out.ViewFloat32("w", []int{512, 512}, func(v []float32) error {
				copy(make([]float32, len(v)), v)
				return nil
			})
		}},
		{"Float32", func() error { _, err := out.Float32("w", 512, 512); return err }},
	} {
		err := read.fn()
		if err == nil || !strings.Contains(err.Error(), "big.safetensors") || !strings.Contains(err.Error(), "changed while it was read") {
			t.Errorf("%s of a file truncated under its mapping: err = %v; want an error naming the file", read.how, err)
		}
	}
}

// TestMappedTensorsOutliveTheirSet checks that tensors merged into another
// set keep their file mapped after the set that read them is collected.
func TestMappedTensorsOutliveTheirSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	in := sampleSet()
	must(t, WriteSafetensors(path, in, nil))
	merged := NewSet()
	func() {
		read, err := ReadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		merged.Merge(read)
	}()
	for range 3 {
		runtime.GC()
	}
	want, _ := in.Get("a.weight")
	err := merged.ViewFloat32("a.weight", []int{2, 3}, func(v []float32) error {
		if got := fmt.Sprint(v); got != fmt.Sprint([]float32{1, -2, 3.5, 4, 5, 6}) {
			return fmt.Errorf("values %s", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the reading set was collected: %v", err)
	}
	got, err := merged.Float32("a.weight", 2, 3)
	if err != nil || !bytes.Equal(rawBytes(t, got), rawBytes(t, want)) {
		t.Fatalf("Float32 after the reading set was collected: %v", err)
	}
}

func TestReadsPythonWrittenFiles(t *testing.T) {
	set, err := ReadDir(filepath.Join(golden, "gpt2", "model"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Get("transformer.h.0.attn.c_attn.weight"); !ok {
		t.Fatalf("golden GPT-2 checkpoint lacks transformer.h.0.attn.c_attn.weight; has %v", set.Names())
	}
	bf, err := ReadDir(filepath.Join(golden, "gpt2", "model-bf16"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := bf.Float32("wte.weight", 96, 32)
	if err != nil {
		t.Fatal(err)
	}
	if w.DType().String() != "Float32" {
		t.Fatalf("Float32 conversion gave %s", w.DType())
	}
}

func TestShardedIndex(t *testing.T) {
	dir := t.TempDir()
	in := sampleSet()
	a, b := NewSet(), NewSet()
	index := map[string]string{}
	for i, name := range in.Names() {
		x, _ := in.Get(name)
		shard, file := a, "model-00001-of-00002.safetensors"
		if i%2 == 1 {
			shard, file = b, "model-00002-of-00002.safetensors"
		}
		shard.Add(name, x, "")
		index[name] = file
	}
	must(t, WriteSafetensors(filepath.Join(dir, "model-00001-of-00002.safetensors"), a, nil))
	must(t, WriteSafetensors(filepath.Join(dir, "model-00002-of-00002.safetensors"), b, nil))
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": index})
	must(t, os.WriteFile(filepath.Join(dir, SafetensorsIndex), idx, 0o644))
	out, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != in.Len() {
		t.Fatalf("sharded read found %d tensors, want %d", out.Len(), in.Len())
	}
	if f := out.File("c.ids"); !strings.HasSuffix(f, index["c.ids"]) {
		t.Errorf("c.ids read from %s, want %s", f, index["c.ids"])
	}
	// An index naming a tensor its shard lacks is an error naming both.
	index["ghost.weight"] = "model-00001-of-00002.safetensors"
	idx, _ = json.Marshal(map[string]any{"weight_map": index})
	must(t, os.WriteFile(filepath.Join(dir, SafetensorsIndex), idx, 0o644))
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "ghost.weight") {
		t.Errorf("index with a missing tensor: err = %v", err)
	}
	// A shard the index lists but the folder lacks is an error naming it.
	delete(index, "ghost.weight")
	idx, _ = json.Marshal(map[string]any{"weight_map": index})
	must(t, os.WriteFile(filepath.Join(dir, SafetensorsIndex), idx, 0o644))
	must(t, os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors")))
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "shard model-00002-of-00002.safetensors is missing") {
		t.Errorf("index naming a missing shard: err = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeRaw writes a safetensors file with the given JSON header and data.
func writeRaw(t *testing.T, header string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	must(t, os.WriteFile(path, b.Bytes(), 0o644))
	return path
}

func TestBadSafetensorsInput(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.safetensors")
	must(t, WriteSafetensors(good, sampleSet(), nil))
	data, _ := os.ReadFile(good)
	truncated := filepath.Join(t.TempDir(), "truncated.safetensors")
	must(t, os.WriteFile(truncated, data[:len(data)-5], 0o644))

	for _, tc := range []struct {
		name, path, want string
	}{
		{"truncated data", truncated, "truncated.safetensors"},
		{"header longer than file", writeRaw(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, nil)[:0] + func() string {
			p := filepath.Join(t.TempDir(), "short.safetensors")
			var b bytes.Buffer
			binary.Write(&b, binary.LittleEndian, uint64(1000))
			b.WriteString("{}")
			must(t, os.WriteFile(p, b.Bytes(), 0o644))
			return p
		}(), "short.safetensors"},
		{"not JSON", writeRaw(t, `{"a": nope}`, nil), "bad.safetensors"},
		{"unknown dtype", writeRaw(t, `{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `"a"`},
		{"offsets past the end", writeRaw(t, `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8)), `"a"`},
		{"shape disagrees with offsets", writeRaw(t, `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), `"a"`},
		{"negative dimension", writeRaw(t, `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), "bad.safetensors"},
		{"size overflowing int64", writeRaw(t, `{"a":{"dtype":"F32","shape":[288230376151711744,64],"data_offsets":[0,0]}}`, nil), `tensor "a": shape [288230376151711744 64]: needs more bytes`},
		{"overlap behind an empty tensor", writeRaw(t, `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 16)), `"a" [0, 16] and "c" [8, 12] overlap`},
		{"overlapping tensors", writeRaw(t, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), `"a" [0, 8] and "b" [4, 12] overlap`},
		{"tiny file", func() string {
			p := filepath.Join(t.TempDir(), "tiny.safetensors")
			must(t, os.WriteFile(p, []byte{1, 2}, 0o644))
			return p
		}(), "tiny.safetensors"},
	} {
		_, err := ReadSafetensors(tc.path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.want)
		}
	}

	set, err := ReadSafetensors(good)
	must(t, err)
	if _, err := set.Float32("missing.weight", 2); err == nil || !strings.Contains(err.Error(), `"missing.weight": missing`) || !strings.Contains(err.Error(), "good.safetensors") {
		t.Errorf("missing tensor: err = %v", err)
	}
	if _, err := set.Float32("a.weight", 3, 2); err == nil || !strings.Contains(err.Error(), "shape [2 3], want [3 2]") {
		t.Errorf("wrong shape: err = %v", err)
	}
	if _, err := set.Float32("c.ids", 2, 2); err == nil || !strings.Contains(err.Error(), "not a floating-point") {
		t.Errorf("integer tensor as weight: err = %v", err)
	}
	if _, err := ReadDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("empty folder: err = %v", err)
	}
}

func TestLlama2CMatchesHuggingFaceLayout(t *testing.T) {
	h, set, err := ReadLlama2C(filepath.Join(golden, "llama", "model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Dim != 32 || h.NumKVHeads != 2 || h.SharedClassifier {
		t.Fatalf("header %+v", h)
	}
	hf, err := ReadDir(filepath.Join(golden, "llama", "model"))
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != hf.Len() {
		t.Fatalf("llama2.c file gives %d tensors, the Hugging Face checkpoint %d", set.Len(), hf.Len())
	}
	for _, name := range hf.Names() {
		a, _ := hf.Get(name)
		b, ok := set.Get(name)
		if !ok {
			t.Errorf("llama2.c conversion lacks %s", name)
			continue
		}
		if !a.Shape().Equal(b.Shape()) || !bytes.Equal(rawBytes(t, a), rawBytes(t, b)) {
			t.Errorf("%s differs between the llama2.c file and the Hugging Face checkpoint (q/k permutation?)", name)
		}
	}
}

func TestStories260K(t *testing.T) {
	h, set, err := ReadLlama2C(assets.Require(t, assets.Stories260K))
	if err != nil {
		t.Fatal(err)
	}
	want := Llama2CHeader{Dim: 64, HiddenDim: 172, NumLayers: 5, NumHeads: 8, NumKVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if h != want {
		t.Fatalf("stories260K header %+v, want %+v", h, want)
	}
	if _, ok := set.Get("lm_head.weight"); ok {
		t.Errorf("shared classifier produced an lm_head.weight")
	}
	if _, err := set.Float32("model.layers.4.self_attn.k_proj.weight", 32, 64); err != nil {
		t.Error(err)
	}
}

func TestBadLlama2C(t *testing.T) {
	good, _ := os.ReadFile(filepath.Join(golden, "llama", "model.bin"))
	dir := t.TempDir()
	cases := map[string][]byte{
		"short-header.bin": good[:10],
		"truncated.bin":    good[:len(good)-4],
		"zero-heads.bin":   append(append([]byte(nil), good[:12]...), append(make([]byte, 4), good[16:]...)...),
	}
	for name, data := range cases {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, data, 0o644))
		if _, _, err := ReadLlama2C(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v; want an error naming the file", name, err)
		}
	}
}

// TestCheckFinite places NaN and infinities at every kind of position
// (first, last, in a pair, past a chunk, at an odd start) and checks the
// largest finite values pass.
func TestCheckFinite(t *testing.T) {
	buf := make([]float32, 3002)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, off := range []int{0, 1} { // an 8-byte aligned start and a 4-byte one
			x := buf[off : off+3001]
			for _, at := range []int{0, 1, 2, 1023, 1024, 1025, 2999, 3000} {
				clear(x)
				x[at] = bad
				err := CheckFinite(x)
				if want := fmt.Sprintf("value %d (of 3001) is %v", at, bad); err == nil || err.Error() != want {
					t.Errorf("%v at %d (start %d): err = %v; want %s", bad, at, off, err, want)
				}
			}
		}
	}
	clear(buf)
	buf[5], buf[6], buf[7] = math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32
	if err := CheckFinite(buf); err != nil {
		t.Errorf("finite values: %v", err)
	}
	if err := CheckFinite(nil); err != nil {
		t.Errorf("no values: %v", err)
	}
}
