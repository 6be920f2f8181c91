package weights

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Llama2CHeader is the header of a llama2.c checkpoint: seven little-endian
// int32 values. A negative vocabulary size in the file means the classifier
// is stored separately (not shared with the token embedding).
type Llama2CHeader struct {
	Dim, HiddenDim, NumLayers, NumHeads, NumKVHeads, VocabSize, SeqLen int
	// SharedClassifier is true when the file's vocabulary size was positive.
	SharedClassifier bool
}

// Llama2CHeaderSize is the size in bytes of a llama2.c header.
const Llama2CHeaderSize = 7 * 4

// ParseLlama2CHeader decodes and checks a llama2.c header: every size must be
// positive, heads must divide the dimension, KV heads must divide heads, and
// the head size must be even (for the rotary embedding).
func ParseLlama2CHeader(b []byte) (Llama2CHeader, error) {
	if len(b) < Llama2CHeaderSize {
		return Llama2CHeader{}, fmt.Errorf("llama2.c header: %d bytes, want %d", len(b), Llama2CHeaderSize)
	}
	var v [7]int32
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	h := Llama2CHeader{Dim: int(v[0]), HiddenDim: int(v[1]), NumLayers: int(v[2]), NumHeads: int(v[3]),
		NumKVHeads: int(v[4]), VocabSize: int(v[5]), SeqLen: int(v[6]), SharedClassifier: v[5] > 0}
	if h.VocabSize < 0 {
		h.VocabSize = -h.VocabSize
	}
	fields := []struct {
		name string
		v    int
	}{{"dim", h.Dim}, {"hidden_dim", h.HiddenDim}, {"n_layers", h.NumLayers}, {"n_heads", h.NumHeads},
		{"n_kv_heads", h.NumKVHeads}, {"vocab_size", h.VocabSize}, {"seq_len", h.SeqLen}}
	for _, f := range fields {
		if f.v <= 0 || f.v > 1<<24 {
			return h, fmt.Errorf("llama2.c header: field %s = %d out of range", f.name, f.v)
		}
	}
	if _, err := h.fileFloats(); err != nil {
		return h, err
	}
	switch {
	case h.Dim%h.NumHeads != 0:
		return h, fmt.Errorf("llama2.c header: n_heads %d does not divide dim %d", h.NumHeads, h.Dim)
	case h.NumHeads%h.NumKVHeads != 0:
		return h, fmt.Errorf("llama2.c header: n_kv_heads %d does not divide n_heads %d", h.NumKVHeads, h.NumHeads)
	case (h.Dim/h.NumHeads)%2 != 0:
		return h, fmt.Errorf("llama2.c header: head size %d is odd", h.Dim/h.NumHeads)
	}
	return h, nil
}

// HeadDim returns the size of one attention head.
func (h Llama2CHeader) HeadDim() int { return h.Dim / h.NumHeads }

// fileFloats returns the number of float32 values the body of a file with
// this header holds, or an error when that number is implausible (over 2^40,
// 4 TiB), which also keeps the arithmetic from overflowing.
func (h Llama2CHeader) fileFloats() (int64, error) {
	const limit = 1 << 40
	d, kv, hd, l := float64(h.Dim), float64(h.NumKVHeads*h.HeadDim()), float64(h.HiddenDim), float64(h.NumLayers)
	n := float64(h.VocabSize)*d + l*(d+d*d+2*d*kv+d*d+d+3*d*hd) + d + float64(h.SeqLen)*float64(h.HeadDim())
	if !h.SharedClassifier {
		n += float64(h.VocabSize) * d
	}
	if n > limit {
		return 0, fmt.Errorf("llama2.c header: sizes imply %.3g parameters, more than %d", n, int64(limit))
	}
	return int64(n), nil
}

// ReadLlama2C reads a llama2.c checkpoint (version 0, float32) and returns
// its header and its weights under Hugging Face LLaMA names
// (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ...).
// llama2.c rotates interleaved pairs of each head's query and key features
// where Hugging Face rotates halves; the q and k rows are permuted here into
// Hugging Face's order, as its conversion script does, so the llama family
// runs the file unchanged. lm_head.weight is present only when the file has
// its own classifier.
func ReadLlama2C(path string) (Llama2CHeader, *Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return Llama2CHeader{}, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Llama2CHeader{}, nil, err
	}
	hb := make([]byte, Llama2CHeaderSize)
	if _, err := io.ReadFull(f, hb); err != nil {
		if kind := PickleKind(hb); kind != "" {
			return Llama2CHeader{}, nil, pickleError(path, kind)
		}
		return Llama2CHeader{}, nil, fmt.Errorf("%s: reading llama2.c header: %w", path, err)
	}
	if kind := PickleKind(hb); kind != "" {
		return Llama2CHeader{}, nil, pickleError(path, kind)
	}
	h, err := ParseLlama2CHeader(hb)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	floatsInFile, _ := h.fileFloats() // checked by ParseLlama2CHeader
	want := Llama2CHeaderSize + 4*floatsInFile
	if info.Size() != want {
		return h, nil, fmt.Errorf("%s: llama2.c file is %d bytes; its header (dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d, seq %d, shared classifier %v) needs %d",
			path, info.Size(), h.Dim, h.HiddenDim, h.NumLayers, h.NumHeads, h.NumKVHeads, h.VocabSize, h.SeqLen, h.SharedClassifier, want)
	}
	body := make([]byte, want-Llama2CHeaderSize)
	if _, err := io.ReadFull(f, body); err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	floats := make([]float32, len(body)/4)
	for i := range floats {
		floats[i] = float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return h, llama2CTensors(h, floats, path), nil
}

// llama2CTensors names the floats of a llama2.c file with header h (read
// from path) as Hugging Face's LlamaForCausalLM names its weights, in the
// order llama2.c's export writes them: every layer's tensor of a kind
// after the other, the query and key rows permuted from rotary pairs to
// halves.
func llama2CTensors(h Llama2CHeader, floats []float32, path string) *Set {
	set := NewSet()
	set.Source = path
	pos := 0
	take := func(n int) []float32 {
		s := floats[pos : pos+n]
		pos += n
		return s
	}
	d, hd, kvDim, l := h.Dim, h.HiddenDim, h.NumKVHeads*h.HeadDim(), h.NumLayers
	add := func(name string, data []float32, dims ...int) {
		set.Add(name, hostTensor(append([]float32(nil), data...), dims...), path)
	}
	layer := func(i int, name string) string { return fmt.Sprintf("model.layers.%d.%s", i, name) }
	add("model.embed_tokens.weight", take(h.VocabSize*d), h.VocabSize, d)
	for i := range l {
		add(layer(i, "input_layernorm.weight"), take(d), d)
	}
	for i := range l {
		add(layer(i, "self_attn.q_proj.weight"), PermuteToHalves(take(d*d), h.NumHeads, h.HeadDim(), d), d, d)
	}
	for i := range l {
		add(layer(i, "self_attn.k_proj.weight"), PermuteToHalves(take(kvDim*d), h.NumKVHeads, h.HeadDim(), d), kvDim, d)
	}
	for i := range l {
		add(layer(i, "self_attn.v_proj.weight"), take(kvDim*d), kvDim, d)
	}
	for i := range l {
		add(layer(i, "self_attn.o_proj.weight"), take(d*d), d, d)
	}
	for i := range l {
		add(layer(i, "post_attention_layernorm.weight"), take(d), d)
	}
	for i := range l {
		add(layer(i, "mlp.gate_proj.weight"), take(hd*d), hd, d)
	}
	for i := range l {
		add(layer(i, "mlp.down_proj.weight"), take(d*hd), d, hd)
	}
	for i := range l {
		add(layer(i, "mlp.up_proj.weight"), take(hd*d), hd, d)
	}
	add("model.norm.weight", take(d), d)
	take(h.SeqLen * h.HeadDim()) // freq_cis_real and freq_cis_imag: recomputed from rope_theta
	if !h.SharedClassifier {
		add("lm_head.weight", take(h.VocabSize*d), h.VocabSize, d)
	}
	return set
}

// PermuteToHalves reorders the rows of a [heads*headDim, cols] query or key
// projection from interleaved rotary pairs (0,1),(2,3),... — the layout of
// llama2.c checkpoints and of GGUF files, whose converter permutes Hugging
// Face's rows this way — to Hugging Face's halves: within each head, row 2j
// goes to j and row 2j+1 to headDim/2 + j. A bias is a projection with one
// column. PermuteToPairs undoes it.
func PermuteToHalves(w []float32, heads, headDim, cols int) []float32 {
	out := make([]float32, len(w))
	half := headDim / 2
	for h := range heads {
		for j := range half {
			for k := range 2 {
				src := (h*headDim + 2*j + k) * cols
				dst := (h*headDim + k*half + j) * cols
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

// PermuteToPairs is the inverse of PermuteToHalves: it reorders the rows of
// a [heads*headDim, cols] projection from Hugging Face's rotary halves to
// interleaved pairs, as llama.cpp's converter does when it writes a GGUF
// file: within each head, row j goes to 2j and row headDim/2 + j to 2j+1.
func PermuteToPairs(w []float32, heads, headDim, cols int) []float32 {
	out := make([]float32, len(w))
	half := headDim / 2
	for h := range heads {
		for j := range half {
			for k := range 2 {
				src := (h*headDim + k*half + j) * cols
				dst := (h*headDim + 2*j + k) * cols
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

// PickleKind names the PyTorch format that a file starting with head is
// ("a zip archive" for torch.save since PyTorch 1.6, "a pickle" for older
// files), or returns "" for anything else. Such files are never read here:
// unpickling runs whatever code the file holds.
func PickleKind(head []byte) string {
	switch {
	case len(head) >= 4 && string(head[:4]) == "PK\x03\x04":
		return "a zip archive (torch.save)"
	case len(head) >= 3 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5 && head[2] != 0:
		// PROTO n, then an opcode (never 0): a llama2.c header of dim 640
		// also starts 0x80 0x02, followed by zeros.
		return fmt.Sprintf("a pickle (protocol %d)", head[1])
	}
	return ""
}

func pickleError(path, kind string) error {
	return fmt.Errorf("%s: %s, a PyTorch checkpoint: never read here, since unpickling runs the code it holds; convert it to safetensors (safetensors.torch.save_file in Python) and load the folder", path, kind)
}
