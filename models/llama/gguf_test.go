package llama

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	hfgguf "github.com/gomlx/go-huggingface/models/gguf"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// prompt is a fixed batch of stories260K token ids (BOS, then pieces).
var prompt = [][]int32{{1, 320, 261, 400, 285, 411, 300, 260, 378, 455, 401, 461}}

func stories260K(t *testing.T) *Model {
	t.Helper()
	m, err := LoadLlama2C(assets.Require(t, assets.Stories260K), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func logits(t *testing.T, m *Model) []float32 {
	t.Helper()
	out, err := m.Forward(modeling.Batch{IDs: prompt}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out.Logits)
}

func maxAbsDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	return diff, scale
}

// TestGGUFF32RoundTrip saves stories260K as an F32 GGUF and loads it back:
// the logits must not change. The query rows in the file must be llama2.c's
// own (llama2.c, like GGML, keeps rotary pairs interleaved, and llama.cpp's
// llama2.c converter copies them as they are): this checks our permutation
// against llama.cpp's layout independently of our reader.
func TestGGUFF32RoundTrip(t *testing.T) {
	m := stories260K(t)
	path := filepath.Join(t.TempDir(), "stories260K.gguf")
	if err := m.SaveGGUF(path, "f32"); err != nil {
		t.Fatal(err)
	}
	back, err := LoadGGUF(path, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Config, m.Config) {
		t.Errorf("config after the GGUF round trip\n%+v\nwant\n%+v", *back.Config, *m.Config)
	}
	diff, _ := maxAbsDiff(logits(t, m), logits(t, back))
	t.Logf("f32 GGUF: max |logit diff| = %.3g", diff)
	if diff > 1e-6 {
		t.Errorf("f32 GGUF changed the logits by %.3g", diff)
	}

	bin, err := os.ReadFile(assets.Require(t, assets.Stories260K))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	wq := weights.Llama2CHeaderSize + 4*(c.VocabSize*c.HiddenSize+c.NumHiddenLayers*c.HiddenSize) // after the embedding and the attention norms
	raw := rawTensor(t, path, "blk.0.attn_q.weight")
	if !bytes.Equal(raw, bin[wq:wq+len(raw)]) {
		t.Error("blk.0.attn_q.weight differs from the query rows of the llama2.c file (GGML's interleaved layout)")
	}
}

func rawTensor(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := hfgguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := hfgguf.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	raw, _, err := r.ReadTensorRaw(name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestGGUFGoldenLlama round-trips the golden LLaMA 2 model (GQA, untied
// head: output.weight) through an F32 GGUF and checks it against the
// Hugging Face golden again.
func TestGGUFGoldenLlama(t *testing.T) {
	m := load(t, "llama", "model")
	path := filepath.Join(t.TempDir(), "llama.gguf")
	if err := m.SaveGGUF(path, "f32"); err != nil {
		t.Fatal(err)
	}
	back, err := LoadGGUF(path, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config.TieWordEmbeddings {
		t.Error("untied head loaded as tied")
	}
	checkFamily(t, "llama", back)
	// Llama 3.1 rope scaling has no GGUF key (llama.cpp writes factors in a
	// tensor, rope_freqs.weight): saving it is an error, not a silent change.
	if err := load(t, "llama3", "model").SaveGGUF(filepath.Join(t.TempDir(), "llama3.gguf"), "f32"); err == nil || !strings.Contains(err.Error(), `"llama3"`) {
		t.Errorf("llama3 rope scaling: err = %v", err)
	}
}

// TestGGUFBiasesAndLinearRope checks what stories260K lacks: q, k, v, o and
// MLP biases, linear rope scaling and a head_dim other than hidden/heads.
// Each bias element is set to the first weight of its row, so that the file
// shows whether biases were permuted with their rows.
func TestGGUFBiasesAndLinearRope(t *testing.T) {
	bos := 1
	cfg := &Config{VocabSize: 40, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4,
		NumKeyValueHeads: 2, HeadDimField: 16, AttentionBias: true, MLPBias: true, MaxPositionEmbeddings: 64,
		RopeScaling: &modeling.RopeScaling{RopeType: "linear", Factor: 2}, BosTokenID: &bos, EosTokenID: float64(2)}
	if err := cfg.check("config"); err != nil {
		t.Fatal(err)
	}
	set := modeling.RandomWeights(mustSpecs(t, cfg), 3, 0.2)
	for _, name := range set.Names() {
		if bias, ok := strings.CutSuffix(name, ".bias"); ok {
			w, _ := set.Get(bias + ".weight")
			rows, cols := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
			values := make([]float32, rows)
			for r, v := range tensors.MustCopyFlatData[float32](w) {
				if r%cols == 0 {
					values[r/cols] = v
				}
			}
			set.Add(name, tensors.FromFlatDataAndDimensions(values, rows), "")
		}
	}
	m, err := New(cfg, set, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "biased.gguf")
	if err := m.SaveGGUF(path, "f32"); err != nil {
		t.Fatal(err)
	}
	file, _, err := weights.ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range file.Names() {
		if bias, ok := strings.CutSuffix(name, ".bias"); ok {
			b, _ := file.Get(name)
			w, _ := file.Get(bias + ".weight")
			bv, wv, cols := tensors.MustCopyFlatData[float32](b), tensors.MustCopyFlatData[float32](w), w.Shape().Dimensions[1]
			for r := range bv {
				if bv[r] != wv[r*cols] {
					t.Errorf("%s: row %d of the bias does not go with row %d of %s.weight", name, r, r, bias)
					break
				}
			}
		}
	}
	back, err := LoadGGUF(path, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	if c := back.Config; !c.AttentionBias || !c.MLPBias || c.HeadDim() != 16 || c.RopeScaling.Kind() != "linear" || c.RopeScaling.Factor != 2 {
		t.Errorf("config after the round trip: %+v", *c)
	}
	ids := [][]int32{{1, 5, 9, 33, 2, 17, 39}}
	a, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := back.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff, _ := maxAbsDiff(tensors.MustCopyFlatData[float32](a.Logits), tensors.MustCopyFlatData[float32](b.Logits)); diff > 1e-6 {
		t.Errorf("logits changed by %.3g in the round trip", diff)
	}
}

// TestGGUFQuantized saves stories260K as Q8_0 and Q4_0. go-huggingface's
// reader must find our quantizer's bytes (from the weights permuted into
// GGML's layout) in every 2-D tensor whose rows are whole blocks, F32 in the
// others. Every weight LoadGGUF gives back must be within the quantizer's
// error of the original, in Hugging Face's layout (a wrong permutation
// would be far off): for Q8_0, d/2 plus the float16 rounding of d times
// |code| ≤ 127, with d = amax/127 over the weight's block of 32; for Q4_0,
// |d| (at the clamp, code 16 → 15) plus the rounding of d times 8, with
// |d| = amax/8.
//
// The logits: stories260K (dimension 64, 260K parameters) amplifies weight
// noise some 15×. Measured on this prompt, Q8_0's 0.59% relative RMS weight
// error moves the logits by 9% RMS and 2.4 at worst (16% of max |logit|
// 14.6), and multiplying each weight by 1 + a pseudo-random 0.59% moves them
// as much (2.2): that is the model, not the file. So Q8_0 is bounded at 25%
// of max |logit|. Q4_0's 9.3% weight error leaves little of this model
// (logits off by about their own size); its bound, 2× max |logit|, only
// catches a blow-up.
func TestGGUFQuantized(t *testing.T) {
	m := stories260K(t)
	ref := logits(t, m)
	set, err := m.Params().Weights()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ      string
		quantize func([]float32) []byte
		// weightErr is the largest error of a weight in a block whose
		// largest magnitude is amax; logits bounds the logits' change.
		weightErr, logits float64
	}{
		{"q8_0", weights.QuantizeQ8_0, (0.5 + 127.0/2048) / 127 * 1.001, 0.25},
		{"q4_0", weights.QuantizeQ4_0, (1 + 8.0/2048) / 8 * 1.001, 2},
	} {
		path := filepath.Join(t.TempDir(), "stories260K-"+tc.typ+".gguf")
		if err := m.SaveGGUF(path, tc.typ); err != nil {
			t.Fatal(err)
		}
		f, err := hfgguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hfgguf.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		quantized := 0
		for _, s := range mustSpecs(t, m.Config) {
			x, _ := set.Get(s.Name)
			values := tensors.MustCopyFlatData[float32](x)
			if heads := rotaryHeads(m.Config, s.Name); heads > 0 {
				values = weights.PermuteToPairs(values, heads, m.Config.HeadDim(), s.Dims[1])
			}
			raw, info, err := r.ReadTensorRaw(ggufName(s.Name))
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			if len(s.Dims) == 2 && s.Dims[1]%32 == 0 {
				want = tc.quantize(values)
				quantized++
			} else {
				for _, v := range values {
					want = binary.LittleEndian.AppendUint32(want, math.Float32bits(v))
				}
			}
			if !bytes.Equal(raw, want) {
				t.Errorf("%s: %s (%s) holds other bytes than expected", tc.typ, info.Name, info.Type)
			}
		}
		r.Close()
		// The embedding (tied head), q, k, v, o, gate and up of each layer;
		// the down projections have 172 columns and stay F32.
		if want := 1 + 6*m.Config.NumHiddenLayers; quantized != want {
			t.Errorf("%s: %d quantized tensors, want %d", tc.typ, quantized, want)
		}

		back, err := LoadGGUF(path, m.Backend, modeling.LoadOptions{DType: "float32"})
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := back.Params().Weights()
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for _, s := range mustSpecs(t, m.Config) {
			a, _ := set.Get(s.Name)
			b, _ := loaded.Get(s.Name)
			orig, got := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
			quantizedHere := len(s.Dims) == 2 && s.Dims[1]%32 == 0
			for i := range orig {
				e := math.Abs(float64(orig[i] - got[i]))
				worst = max(worst, e)
				if !quantizedHere && e != 0 || quantizedHere && e > tc.weightErr*blockAmax(orig, i) {
					t.Errorf("%s: %s[%d] = %v loaded as %v", tc.typ, s.Name, i, orig[i], got[i])
					break
				}
			}
		}
		got := logits(t, back)
		diff, scale := maxAbsDiff(ref, got)
		t.Logf("%s GGUF: max |weight diff| = %.3g; max |logit diff| = %.3g (%.0f%% of max |logit| %.3g); argmax kept at %d of %d positions",
			tc.typ, worst, diff, 100*diff/scale, scale, sameArgmax(ref, got, m.Config.VocabSize), len(prompt[0]))
		if !(diff <= tc.logits*scale) {
			t.Errorf("%s GGUF moved the logits by %.3g, more than %.0f%% of max |logit| %.3g", tc.typ, diff, 100*tc.logits, scale)
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

// sameArgmax counts the positions where a and b pick the same token.
func sameArgmax(a, b []float32, vocab int) int {
	n := 0
	for p := 0; p < len(a); p += vocab {
		ra, rb := a[p:p+vocab], b[p:p+vocab]
		if slices.Index(ra, slices.Max(ra)) == slices.Index(rb, slices.Max(rb)) {
			n++
		}
	}
	return n
}

// rewriteGGUF copies the GGUF file src to a new file as F32 after edit has
// changed its metadata and tensors, and returns the new file's path.
func rewriteGGUF(t *testing.T, src string, edit func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor)) string {
	t.Helper()
	set, info, err := weights.ReadGGUF(src)
	if err != nil {
		t.Fatal(err)
	}
	var ts []weights.GGUFTensor
	for _, ti := range info.Tensors {
		x, _ := set.Get(ti.Name)
		ts = append(ts, weights.GGUFTensor{Name: ti.Name, Type: weights.GGUFF32, Dims: ti.Dims, Values: tensors.MustCopyFlatData[float32](x)})
	}
	meta, ts := edit(slices.Clone(info.Metadata), ts)
	path := filepath.Join(t.TempDir(), "edited.gguf")
	if err := weights.WriteGGUF(path, meta, ts); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadGGUFModel(t *testing.T) {
	m := stories260K(t)
	src := filepath.Join(t.TempDir(), "stories260K.gguf")
	if err := m.SaveGGUF(src, "f32"); err != nil {
		t.Fatal(err)
	}
	setMeta := func(key string, value any) func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
		return func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			i := slices.IndexFunc(meta, func(kv weights.GGUFKV) bool { return kv.Key == key })
			if value == nil {
				return slices.Delete(meta, i, i+1), ts
			}
			if i < 0 {
				return append(meta, weights.GGUFKV{Key: key, Value: value}), ts
			}
			meta[i].Value = value
			return meta, ts
		}
	}
	dropTensor := func(name string) func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
		return func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return meta, slices.DeleteFunc(ts, func(x weights.GGUFTensor) bool { return x.Name == name })
		}
	}
	both := func(a, b func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor)) func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
		return func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return b(a(meta, ts))
		}
	}
	for _, tc := range []struct {
		name string
		edit func([]weights.GGUFKV, []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor)
		want string
	}{
		{"other architecture", setMeta("general.architecture", "gpt2"), `general.architecture is "gpt2"`},
		{"no architecture", setMeta("general.architecture", nil), `metadata key "general.architecture" missing`},
		{"missing key", setMeta("llama.block_count", nil), `metadata key "llama.block_count" missing`},
		{"missing epsilon", setMeta("llama.attention.layer_norm_rms_epsilon", nil), `"llama.attention.layer_norm_rms_epsilon" missing`},
		{"key of the wrong type", setMeta("llama.embedding_length", "64"), `metadata key "llama.embedding_length" is 64 (string), want an integer`},
		{"unsupported rope scaling", setMeta("llama.rope.scaling.type", "yarn"), `"yarn"`},
		{"partial rotary", setMeta("llama.rope.dimension_count", uint32(4)), `"llama.rope.dimension_count" is 4`},
		{"missing tensor", dropTensor("blk.4.ffn_down.weight"), `tensor "blk.4.ffn_down.weight": missing`},
		{"a billion blocks", setMeta("llama.block_count", uint32(1000000000)), `"num_hidden_layers" is 1000000000, more than the 1024`},
		{"more blocks than tensors", setMeta("llama.block_count", uint32(500)), `tensor "blk.5.attn_norm.weight": missing`},
		{"NaN epsilon", setMeta("llama.attention.layer_norm_rms_epsilon", float32(math.NaN())), `metadata key "llama.attention.layer_norm_rms_epsilon" is NaN`},
		{"infinite rope base", setMeta("llama.rope.freq_base", float32(math.Inf(1))), `metadata key "llama.rope.freq_base" is +Inf`},
		{"NaN rope scaling factor", both(setMeta("llama.rope.scaling.type", "linear"), setMeta("llama.rope.scaling.factor", float32(math.NaN()))),
			`metadata key "llama.rope.scaling.factor" is NaN`},
		{"zero rope scaling factor", both(setMeta("llama.rope.scaling.type", "linear"), setMeta("llama.rope.scaling.factor", float32(0))),
			`metadata key "llama.rope.scaling.factor" is 0`},
		{"fewer blocks than the file", setMeta("llama.block_count", uint32(4)),
			`9 tensors the config does not use, among them ["blk.4.attn_k.weight" "blk.4.attn_norm.weight"`},
		{"an unknown block tensor", func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return meta, append(ts, weights.GGUFTensor{Name: "blk.0.ffn_gate_inp.weight", Type: weights.GGUFF32, Dims: []int{4, 64}, Values: make([]float32, 256)})
		}, `1 tensors the config does not use, among them ["blk.0.ffn_gate_inp.weight"]`},
		{"negative rope base", setMeta("llama.rope.freq_base", float32(-1)), `"rope_theta" must be a positive number`},
		{"rope factors", func(meta []weights.GGUFKV, ts []weights.GGUFTensor) ([]weights.GGUFKV, []weights.GGUFTensor) {
			return meta, append(ts, weights.GGUFTensor{Name: "rope_freqs.weight", Type: weights.GGUFF32, Dims: []int{4}, Values: []float32{1, 1, 1, 1}})
		}, `"rope_freqs.weight"`},
	} {
		path := rewriteGGUF(t, src, tc.edit)
		_, err := LoadGGUF(path, m.Backend)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want one naming %s and %s", tc.name, err, path, tc.want)
		}
	}
	// A file the checkpoint shapes disagree with names the GGUF tensor.
	path := rewriteGGUF(t, src, setMeta("llama.feed_forward_length", uint32(96)))
	if _, err := LoadGGUF(path, m.Backend); err == nil || !strings.Contains(err.Error(), `tensor "blk.0.ffn_gate.weight": shape [172 64], want [96 64]`) {
		t.Errorf("wrong feed_forward_length: err = %v", err)
	}
	if err := m.SaveGGUF(filepath.Join(t.TempDir(), "x.gguf"), "q5_k"); err == nil || !strings.Contains(err.Error(), `"q5_k"`) {
		t.Errorf("unknown tensor type: err = %v", err)
	}
}

// FuzzLoadGGUF loads any bytes as a llama.cpp GGUF model (seeded with the
// golden LLaMA saved as GGUF, whole and cut short): a model, or an error
// naming the file, never a panic; block counts and sizes from the file's
// metadata are checked before anything is allocated for them.
func FuzzLoadGGUF(f *testing.F) {
	m, err := Load(filepath.Join(golden.Dir("llama"), "model"), golden.Backend(f))
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.gguf")
	if err := m.SaveGGUF(seed, "f32"); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(data[:64])
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.gguf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGGUF(path, m.Backend); err != nil && !strings.Contains(err.Error(), path) {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}

// mustSpecs is specs, failing t when the network does not build.
func mustSpecs(t *testing.T, c *Config) []modeling.Spec {
	t.Helper()
	sp, err := specs(c)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}
