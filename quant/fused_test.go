package quant

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	onnx "github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// fusedPair returns the engine under test and, when it is ONNX Runtime on
// the CPU, the same engine with the fused route (nil otherwise: the fused
// route's refusals are what is tested there).
func fusedPair(t *testing.T, cfg FusedConfig) (compute.Backend, compute.Backend) {
	t.Helper()
	base := golden.Backend(t)
	fused, err := NewFusedBackend(base, cfg)
	if err != nil {
		if !strings.Contains(err.Error(), FusedEngine) {
			t.Fatalf("NewFusedBackend(%s): the refusal does not name %s: %v", base.Name(), FusedEngine, err)
		}
		return base, nil
	}
	return base, fused
}

// quantized loads the model at path on backend and quantizes it with cfg.
func quantized(t *testing.T, path string, backend compute.Backend, cfg Config) models.CausalLM {
	t.Helper()
	// float32: a GGUF's blocks dequantized at load, so Apply finds the
	// linear layers to quantize (kept blocks are not quant Layouts).
	m, err := models.LoadWith(path, backend, modeling.LoadOptions{DType: "float32"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(m.Params(), cfg); err != nil {
		t.Fatal(err)
	}
	return m.(models.CausalLM)
}

// TestFusedMatchesDequantized checks the fused route's logits against the
// dequantize route's on the same quantized weights. With float activations
// (accuracy_level 0) both compute the same products in another order: the
// bound is float32 rounding. With int8 activations (accuracy_level 4) MLAS
// rounds each block of an activation row to 8 bits, max|a|/127 per step,
// so each product moves by at most Σ_blocks max|a|/254 · Σ|w| over the
// block — 1/254 (0.4 %) of the product of the magnitudes, usually far
// less as the errors cancel — and the logits of the tiny golden models by
// a few percent of their largest value (the tolerance below, 6 %, is
// what the golden models' random weights need: about twice what they
// show).
func TestFusedMatchesDequantized(t *testing.T) {
	for _, tc := range []struct {
		family string
		cfg    Config
	}{
		{"gpt2", Config{Scheme: Int8}},
		{"gpt2", Config{Scheme: Int4, GroupSize: 32}},
		{"llama", Config{Scheme: Int8}},
		{"llama", Config{Scheme: Int4, GroupSize: 16}},
	} {
		for _, acts := range []struct {
			cfg FusedConfig
			tol float64 // of the largest |logit|
		}{{FusedConfig{FloatActivations: true}, 1e-5}, {FusedConfig{}, 0.06}} {
			name := tc.family + "/" + string(tc.cfg.Scheme)
			if acts.cfg.FloatActivations {
				name += "/float-acts"
			} else {
				name += "/int8-acts"
			}
			t.Run(name, func(t *testing.T) {
				base, fused := fusedPair(t, acts.cfg)
				if fused == nil {
					t.Skipf("the fused route runs on %s only", FusedEngine)
				}
				path := filepath.Join(golden.Dir(tc.family), "model")
				want := logits(t, quantized(t, path, base, tc.cfg), tc.family)
				cfg := tc.cfg
				cfg.Route = Fused
				got := logits(t, quantized(t, path, fused, cfg), tc.family)
				if n := FusedProducts(fused); n == 0 {
					t.Fatal("no product was fused")
				}
				d, _, err := golden.MaxAbsDiff(got, want)
				if err != nil {
					t.Fatal(err)
				}
				scale := maxAbs(t, want)
				t.Logf("max |fused - dequantized| = %.3g (%.2g of max |logit| %.3g)", d, d/scale, scale)
				if d > acts.tol*scale {
					t.Errorf("fused logits differ from the dequantized graph's by %.3g, above %.2g × %.3g", d, acts.tol, scale)
				}
			})
		}
	}
}

// TestFusedRefusals checks that a scheme or engine without the fused route
// is refused with an error naming where it runs.
func TestFusedRefusals(t *testing.T) {
	base, fused := fusedPair(t, FusedConfig{})
	path := filepath.Join(golden.Dir("gpt2"), "model")
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{Scheme: NF4, Route: Fused}, []string{"nf4 has no fused product", "dequantize", "go, xla:cpu and onnx:cpu"}},
		{Config{Scheme: Int4, GroupSize: 48, Route: Fused}, []string{"group size 48", "dequantize"}},
		{Config{Scheme: Int8, Route: "fast"}, []string{`unknown route "fast"`}},
	} {
		m, err := models.Load(path, base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(m.Params(), tc.cfg); err == nil || !containsAll(err.Error(), tc.want) {
			t.Errorf("Apply(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
	if fused == nil {
		// An engine without the fused route: asking for it is refused when
		// the first program is built, naming the engine that has it.
		m := quantized(t, path, base, Config{Scheme: Int8, Route: Fused})
		_, err := m.Forward(modeling.Batch{IDs: [][]int32{{1, 2, 3}}}, modeling.ForwardOptions{})
		if err == nil || !containsAll(err.Error(), []string{"fused route runs on " + FusedEngine, "dequantize route"}) {
			t.Errorf("int8 on the fused route on %s: got %v, want an error naming %s", base.Name(), err, FusedEngine)
		}
		return
	}
	// On the fused backend, NF4 asked for without a route is refused when
	// the graph is built (loading on the fused backend asks for the route).
	m := quantized(t, path, fused, Config{Scheme: NF4, GroupSize: 32})
	_, err := m.Forward(modeling.Batch{IDs: [][]int32{{1, 2, 3}}}, modeling.ForwardOptions{})
	if err == nil || !containsAll(err.Error(), []string{"nf4 has no fused product", "go, xla:cpu and onnx:cpu"}) {
		t.Errorf("nf4 on the fused backend: got %v", err)
	}
	// Unless the dequantize route is asked for.
	m = quantized(t, path, fused, Config{Scheme: NF4, GroupSize: 32, Route: Dequantize})
	if _, err := m.Forward(modeling.Batch{IDs: [][]int32{{1, 2, 3}}}, modeling.ForwardOptions{}); err != nil {
		t.Errorf("nf4 on the dequantize route on the fused backend: %v", err)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// greedyFused checks greedy decoding of the model at path, quantized with
// cfg, on the fused route against the dequantize route, for each of acts.
// With float activations the ids must be the same. With int8 activations
// the logits move a little (see TestFusedMatchesDequantized), which may
// flip a near-tie: the ids must be the same up to the first step whose two
// best logits on the dequantize route are closer than twice the largest
// difference between the routes' logits there (both read over the
// dequantize route's sequence), where no rounding of that size can change
// the choice: a step where every other token's logit is further below the
// best one than the two logits' differences between the routes add up to.
func greedyFused(t *testing.T, path string, cfg Config, prompt []int32, n int, acts ...FusedConfig) {
	for _, a := range acts {
		name := "int8-acts"
		if a.FloatActivations {
			name = "float-acts"
		}
		t.Run(name, func(t *testing.T) {
			base, fused := fusedPair(t, a)
			if fused == nil {
				t.Skipf("the fused route runs on %s only", FusedEngine)
			}
			ref := quantized(t, path, base, cfg)
			want, err := generate.Generate(ref, prompt, generate.Options{MaxNewTokens: n})
			if err != nil {
				t.Fatal(err)
			}
			fcfg := cfg
			fcfg.Route = Fused
			fm := quantized(t, path, fused, fcfg)
			got, err := generate.Generate(fm, prompt, generate.Options{MaxNewTokens: n})
			if err != nil {
				t.Fatal(err)
			}
			if FusedProducts(fused) == 0 {
				t.Fatal("no product was fused")
			}
			compared := len(want)
			if !a.FloatActivations {
				compared = decisiveSteps(t, ref, fm, prompt, want)
			}
			t.Logf("%s %s: %d ids compared of %d: %v", filepath.Base(path), cfg.Scheme, compared, len(want), got)
			if len(got) < compared || !slices.Equal(got[:compared], want[:compared]) {
				t.Errorf("greedy ids on the fused route %v, on the dequantize route %v (the first %d compared)", got, want, compared)
			}
		})
	}
}

// decisiveSteps returns how many of the greedy ids ref generated after
// prompt come before the first step at which fused's logits could pick
// another token: some token j whose logit (ref's) is within |Δj| + |Δbest|
// of the best one, Δ being the difference between fused's and ref's
// logits.
func decisiveSteps(t *testing.T, ref, fused models.CausalLM, prompt, ids []int32) int {
	t.Helper()
	seq := [][]int32{append(slices.Clone(prompt), ids...)}
	read := func(m models.CausalLM) ([]float32, int) {
		out, err := m.Forward(modeling.Batch{IDs: seq}, modeling.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		flat, err := tensors.CopyFlatData[float32](out.Logits)
		if err != nil {
			t.Fatal(err)
		}
		return flat, out.Logits.Shape().Dimensions[2]
	}
	want, vocab := read(ref)
	got, _ := read(fused)
	for i := range ids {
		at := (len(prompt) - 1 + i) * vocab
		w, g := want[at:at+vocab], got[at:at+vocab]
		best := int(ids[i])
		dBest := math.Abs(float64(g[best] - w[best]))
		for j := range w {
			if j != best && float64(w[best]-w[j]) <= dBest+math.Abs(float64(g[j]-w[j])) {
				return i
			}
		}
	}
	return len(ids)
}

// TestFusedGreedyStories260K decodes the real stories260K checkpoint.
// int4 leaves out w2 (llama's down_proj), whose width 172 no int4 group
// of MatMulNBits divides.
func TestFusedGreedyStories260K(t *testing.T) {
	path := assets.Require(t, assets.Stories260K)
	prompt := golden.IDs(t, golden.Load(t, "stories260K"), "input_ids")[0]
	both := []FusedConfig{{FloatActivations: true}, {}}
	t.Run("int8", func(t *testing.T) { greedyFused(t, path, Config{Scheme: Int8}, prompt, 24, both...) })
	t.Run("int4", func(t *testing.T) {
		cfg := Config{Scheme: Int4, GroupSize: 16, Modules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"}}
		greedyFused(t, path, cfg, prompt, 24, both...)
	})
}

// TestFusedGreedySmolLM2 decodes the real SmolLM2-135M (its Q4_1 file,
// dequantized when it is read, quantized again here) with int8
// activations, the fused route's default, and int8 weights (float
// activations and int4 are checked on stories260K: SmolLM2 on the
// dequantize route takes seconds a token).
func TestFusedGreedySmolLM2(t *testing.T) {
	path := assets.RequireModel(t, assets.SmolLM2)
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	prompt := tok.Encode("Once upon a time, a little fox")
	greedyFused(t, path, Config{Scheme: Int8}, prompt, 6, FusedConfig{})
}

// TestFindFusions checks the matcher on small ONNX graphs: the product by
// the transposed dequantization is found; one whose weight passes through
// something computed from another input (a LoRA update) or through a
// Slice is not.
func TestFindFusions(t *testing.T) {
	node := func(op string, out string, in ...string) *onnx.NodeProto {
		n := &onnx.NodeProto{OpType: op, Input: in, Output: []string{out}}
		if op == "Transpose" {
			n.Attribute = []*onnx.AttributeProto{{Name: "perm", Type: onnx.AttributeProto_INTS, Ints: []int64{1, 0}}}
		}
		return n
	}
	const w = "/h/0/mlp/c_fc/weight"
	dequant := []*onnx.NodeProto{node("Cast", "f", w), node("Reshape", "s", w+"_scale", "shape"), node("Mul", "deq", "f", "s")}
	for _, tc := range []struct {
		name  string
		nodes []*onnx.NodeProto
		want  int
	}{
		{"product", append(slices.Clone(dequant), node("Transpose", "wt", "deq"), node("MatMul", "y", "x", "wt")), 1},
		{"LoRA update", append(slices.Clone(dequant), node("Add", "wl", "deq", "lora"), node("Transpose", "wt", "wl"), node("MatMul", "y", "x", "wt")), 0},
		{"slice", append(slices.Clone(dequant), node("Slice", "part", "deq", "shape"), node("Transpose", "wt", "part"), node("MatMul", "y", "x", "wt")), 0},
		{"untransposed", append(slices.Clone(dequant), node("MatMul", "y", "x", "deq")), 0},
	} {
		g := &onnx.GraphProto{Node: tc.nodes, Initializer: []*onnx.TensorProto{{Name: "shape"}}}
		for _, in := range []string{"x", w, w + "_scale", "lora"} {
			g.Input = append(g.Input, &onnx.ValueInfoProto{Name: in})
		}
		fusions := findFusions(g, map[string]Layout{"h.0.mlp.c_fc.weight": {Scheme: Int8, Rows: 8, Cols: 4, GroupSize: 4}})
		n := 0
		for _, f := range fusions {
			n += len(f.products)
		}
		if n != tc.want {
			t.Errorf("%s: %d products found, want %d", tc.name, n, tc.want)
		}
	}
}
