package weights

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSafetensors feeds arbitrary bytes to the safetensors reader: it
// must return tensors or an error, never panic or hang.
func FuzzReadSafetensors(f *testing.F) {
	seed := func(header string, data []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, uint64(len(header)))
		b.WriteString(header)
		b.Write(data)
		return b.Bytes()
	}
	f.Add(seed(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(seed(`{"a":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},"b":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(seed(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,0]}}`, make([]byte, 8)))
	f.Add(seed(`{}`, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.safetensors")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := ReadSafetensors(path)
		if err == nil {
			for _, n := range set.Names() {
				x, _ := set.Get(n)
				_ = x.Shape()
			}
		}
	})
}

// FuzzParseLlama2CHeader checks that any 28 bytes give a header or an error.
func FuzzParseLlama2CHeader(f *testing.F) {
	h := func(v ...int32) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, v)
		return b.Bytes()
	}
	f.Add(h(64, 172, 5, 8, 4, 512, 512))
	f.Add(h(32, 48, 2, 4, 2, -96, 64))
	f.Add(h(0, 0, 0, 0, 0, 0, 0))
	f.Add(h(-2147483648, 1, 1, 1, 1, -2147483648, 1))
	f.Add(h(6, 1, 1, 4, 3, 1, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		hd, err := ParseLlama2CHeader(data)
		if err == nil {
			n, sizeErr := hd.fileFloats()
			if hd.Dim%hd.NumHeads != 0 || hd.NumHeads%hd.NumKVHeads != 0 || hd.HeadDim()%2 != 0 || sizeErr != nil || n <= 0 {
				t.Fatalf("accepted inconsistent header %+v", hd)
			}
		}
	})
}
