package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/training/lora"
)

const regenerate = "regenerate with make reference (scripts/reference/interop.py)"

// report is interop.json: what the other implementations made of our files.
type report struct {
	Files    map[string]string   `json:"files"` // path under Write's folder -> sha256
	GGUF     map[string]ggufDesc `json:"gguf"`
	LlamaCpp map[string]struct {
		Prompt string  `json:"prompt"`
		Tokens []int32 `json:"tokens"`
		Greedy []int32 `json:"greedy"`
		Text   string  `json:"text"`
	} `json:"llama_cpp"`
}

// ggufDesc is what the gguf package's GGUFReader read in one file.
type ggufDesc struct {
	Metadata map[string]any `json:"metadata"`
	Tensors  []struct {
		Name   string  `json:"name"`
		Type   string  `json:"type"`
		Shape  []int   `json:"shape"`
		Sum    float64 `json:"sum"`
		AbsSum float64 `json:"abs_sum"`
	} `json:"tensors"`
}

func readReport(t *testing.T) (*report, *weights.Set) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(TestData(), "interop", "interop.json"))
	if err != nil {
		t.Fatalf("%v (%s)", err, regenerate)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	set, err := weights.ReadSafetensors(filepath.Join(TestData(), "interop", "interop.safetensors"))
	if err != nil {
		t.Fatalf("%v (%s)", err, regenerate)
	}
	return &r, set
}

var (
	written     string
	writeOnce   sync.Once
	writeResult error
)

// ours runs Write once per test binary and returns its folder.
func ours(t *testing.T) string {
	t.Helper()
	writeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "interop")
		if err != nil {
			writeResult = err
			return
		}
		written = dir
		writeResult = Write(dir, golden.Backend(t))
	})
	if writeResult != nil {
		t.Fatal(writeResult)
	}
	return written
}

func TestMain(m *testing.M) {
	code := m.Run()
	if written != "" {
		os.RemoveAll(written)
	}
	os.Exit(code)
}

// TestFilesAreTheOnesTheyRead checks that Write still makes, byte for byte,
// the files transformers, PEFT, gguf and llama.cpp read when the goldens
// were made: what they said of those files holds for today's.
func TestFilesAreTheOnesTheyRead(t *testing.T) {
	r, _ := readReport(t)
	dir := ours(t)
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, path)
		got[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range r.Files {
		if got[name] != want {
			t.Errorf("%s: sha256 %.12s, the file the reference script checked had %.12s (%s)", name, got[name], want, regenerate)
		}
	}
	for name := range got {
		if _, ok := r.Files[name]; !ok {
			t.Errorf("%s: written now but not checked by the reference script (%s)", name, regenerate)
		}
	}
}

// logits runs m on the golden inputs of family.
func logits(t *testing.T, m models.Model, family string) *tensors.Tensor {
	t.Helper()
	g := golden.Load(t, family)
	b := modeling.Batch{IDs: golden.IDs(t, g, "input_ids")}
	switch m := m.(type) {
	case *bert.Model:
		b.TokenTypeIDs, b.AttentionMask = golden.IDs(t, g, "token_type_ids"), golden.IDs(t, g, "attention_mask")
		out, err := m.Forward(b, modeling.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out.Logits
	case models.CausalLM:
		out, err := m.Forward(b, modeling.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out.Logits
	}
	t.Fatalf("%T: no forward", m)
	return nil
}

// TestTransformersLoadsOurFolders compares our logits with those
// transformers' from_pretrained gave on the folders we saved.
func TestTransformersLoadsOurFolders(t *testing.T) {
	_, ref := readReport(t)
	dir := ours(t)
	for _, f := range Families {
		m, err := models.Load(filepath.Join(dir, "saved", f), golden.Backend(t))
		if err != nil {
			t.Fatal(err)
		}
		d := golden.Check(t, ref, "hf."+f+".logits", logits(t, m, f), golden.Tolerance)
		t.Logf("%s: our saved folder in transformers: max |diff| %.2g", f, d)
	}
}

// adapted loads the golden model of family with the LoRA adapter in dir.
func adapted(t *testing.T, family, dir string) models.Model {
	t.Helper()
	m, err := models.Load(filepath.Join(TestData(), "golden", family, "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	params := m.Params()
	if _, err := lora.Load(params, dir); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPEFTLoadsOurAdapters compares our logits with an adapter applied and
// PEFT's PeftModel.from_pretrained of the adapter folder we saved, on GPT-2
// (Conv1D, fan_in_fan_out) and LLaMA.
func TestPEFTLoadsOurAdapters(t *testing.T) {
	_, ref := readReport(t)
	dir := ours(t)
	for f := range Adapters {
		d := golden.Check(t, ref, "peft.ours."+f+".logits", logits(t, adapted(t, f, filepath.Join(dir, "lora", f)), f), golden.Tolerance)
		t.Logf("%s: our adapter in PEFT: max |diff| %.2g", f, d)
	}
}

// TestLoadsPEFTAdapter loads an adapter PEFT saved (random A and B) and
// compares with PEFT's logits.
func TestLoadsPEFTAdapter(t *testing.T) {
	_, ref := readReport(t)
	m := adapted(t, "llama", filepath.Join(TestData(), "interop", "peft-llama"))
	golden.Check(t, ref, "peft.theirs.llama.logits", logits(t, m, "llama"), golden.Tolerance)
}

// checkGGUF compares our reading of path with the gguf package's: every
// metadata entry, and every tensor's name, type, shape and dequantized sums.
func checkGGUF(t *testing.T, path string, want ggufDesc) {
	t.Helper()
	set, info, err := weights.ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	if len(info.Metadata) != len(want.Metadata) {
		t.Errorf("%s: %d metadata entries, gguf read %d", name, len(info.Metadata), len(want.Metadata))
	}
	for key, w := range want.Metadata {
		v, ok := info.Meta(key)
		if !ok {
			t.Errorf("%s: metadata %q missing", name, key)
			continue
		}
		if got, wantJSON := describeValue(v), describeJSON(w); got != wantJSON {
			t.Errorf("%s: metadata %q is %s, gguf read %s", name, key, got, wantJSON)
		}
	}
	if len(info.Tensors) != len(want.Tensors) {
		t.Errorf("%s: %d tensors, gguf read %d", name, len(info.Tensors), len(want.Tensors))
	}
	for i, w := range want.Tensors {
		ti, ok := info.Tensor(w.Name)
		if !ok {
			t.Errorf("%s: tensor %q missing", name, w.Name)
			continue
		}
		if i < len(info.Tensors) && info.Tensors[i].Name != w.Name {
			t.Errorf("%s: tensor %d is %q, gguf read %q", name, i, info.Tensors[i].Name, w.Name)
		}
		if !strings.EqualFold(ti.Type.String(), w.Type) || !slices.Equal(ti.Dims, w.Shape) {
			t.Errorf("%s: %s is %s %v, gguf read %s %v", name, w.Name, ti.Type, ti.Dims, w.Type, w.Shape)
		}
		x, _ := set.Get(w.Name)
		var sum, abs float64
		for _, v := range tensors.MustCopyFlatData[float32](x) {
			sum, abs = sum+float64(v), abs+math.Abs(float64(v))
		}
		if tol := 1e-5 * max(w.AbsSum, 1); math.Abs(sum-w.Sum) > tol || math.Abs(abs-w.AbsSum) > tol {
			t.Errorf("%s: %s dequantizes to sum %.7g (|x| %.7g), gguf's %.7g (%.7g)", name, w.Name, sum, abs, w.Sum, w.AbsSum)
		}
	}
}

// describeValue prints one of our metadata values as describeJSON prints
// the gguf package's: numbers as %g, long arrays by length and ends.
func describeValue(v any) string {
	switch v := v.(type) {
	case []string:
		return describeList(len(v), func(i int) string { return fmt.Sprintf("%q", v[i]) })
	case []float32:
		return describeList(len(v), func(i int) string { return fmt.Sprintf("%g", v[i]) })
	case []int32:
		return describeList(len(v), func(i int) string { return fmt.Sprint(v[i]) })
	case string:
		return fmt.Sprintf("%q", v)
	case bool:
		return fmt.Sprint(v)
	case float32:
		return fmt.Sprintf("%g", v)
	case float64:
		return fmt.Sprintf("%g", float32(v))
	}
	return fmt.Sprint(v)
}

func describeJSON(v any) string {
	switch v := v.(type) {
	case []any:
		return describeList(len(v), func(i int) string { return describeJSON(v[i]) })
	case map[string]any: // {"length", "first", "last"} of a long array
		first, last := v["first"].([]any), v["last"].([]any)
		n := int(v["length"].(float64))
		return describeList(n, func(i int) string {
			if i < 8 {
				return describeJSON(first[i])
			}
			return describeJSON(last[i-(n-8)])
		})
	case string:
		return fmt.Sprintf("%q", v)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return fmt.Sprint(int64(v))
		}
		return fmt.Sprintf("%g", float32(v))
	}
	return fmt.Sprint(v)
}

func describeList(n int, item func(int) string) string {
	var parts []string
	for i := range n {
		if n > 16 && i >= 8 && i < n-8 {
			continue
		}
		parts = append(parts, item(i))
	}
	return fmt.Sprintf("%d:[%s]", n, strings.Join(parts, " "))
}

// TestGGUFPackageReadsOurFiles compares the gguf package's reading of the
// GGUF files we write with ours.
func TestGGUFPackageReadsOurFiles(t *testing.T) {
	r, _ := readReport(t)
	dir := ours(t)
	for name, desc := range r.GGUF {
		if name != "gguf-package.gguf" {
			checkGGUF(t, filepath.Join(dir, "gguf", name), desc)
		}
	}
}

// TestReadsGGUFPackageFile reads the golden LLaMA as the gguf package's
// GGUFWriter wrote it (F16, Q8_0 and F32 tensors): the same tensors as the
// package reads, and the logits transformers gives on the file.
func TestReadsGGUFPackageFile(t *testing.T) {
	r, ref := readReport(t)
	path := filepath.Join(TestData(), "interop", "gguf-package.gguf")
	checkGGUF(t, path, r.GGUF["gguf-package.gguf"])
	m, err := llama.LoadGGUF(path, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, ref, "gguf_package.logits", logits(t, m, "llama"), golden.Tolerance)
}

// TestLlamaCppRunsOurGGUF checks what llama.cpp did with the GGUF files we
// write with their tokenizers: its tokens for the prompt are our
// tokenizer's, and from the F32 files its greedy tokens are ours.
func TestLlamaCppRunsOurGGUF(t *testing.T) {
	r, _ := readReport(t)
	if len(r.LlamaCpp) != len(GGUFModels)*len(GGUFTypes) {
		t.Fatalf("llama.cpp ran %d files, want %d (%s)", len(r.LlamaCpp), len(GGUFModels)*len(GGUFTypes), regenerate)
	}
	for file, run := range r.LlamaCpp {
		base := strings.TrimSuffix(file, ".gguf") // <model>-<type>
		i := strings.LastIndex(base, "-")
		model, typ := base[:max(i, 0)], base[i+1:]
		dir := filepath.Join(TestData(), GGUFModels[model])
		tok, err := tokenizer.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		ids := tok.Encode(run.Prompt)
		prompt := make([]int32, len(ids))
		for i, id := range ids {
			prompt[i] = int32(id)
		}
		if !slices.Equal(prompt, run.Tokens) {
			t.Errorf("%s: %q is %v for our tokenizer, %v for llama.cpp", file, run.Prompt, prompt, run.Tokens)
		}
		if len(run.Greedy) == 0 {
			t.Errorf("%s: llama.cpp generated nothing", file)
		}
		if typ != "f32" {
			continue
		}
		lm, err := models.LoadCausalLM(dir, golden.Backend(t))
		if err != nil {
			t.Fatal(err)
		}
		got, err := generate.Generate(lm, prompt, generate.Options{MaxNewTokens: len(run.Greedy)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, run.Greedy) {
			t.Errorf("%s: greedy %v, llama.cpp %v (%q)", file, got, run.Greedy, run.Text)
		}
	}
}
