package quant

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

func writeSet(dir string, set *weights.Set) error {
	return weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), set, nil)
}

// normal returns n normally distributed weights with standard deviation std.
func normal(n int, std float64, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * std)
	}
	return w
}

// TestQuantizeErrorBound checks every scheme's worst-case error: half a
// quantization step for int8 and int4, half the widest gap between NF4
// levels (times the block maximum) for NF4.
func TestQuantizeErrorBound(t *testing.T) {
	const rows, cols = 24, 128
	w := normal(rows*cols, 0.05, 1)
	w[5] = 0.9 // an outlier, as real weight matrices have
	nf4Gap := float32(0)
	for i := 1; i < 16; i++ {
		nf4Gap = max(nf4Gap, compute.NF4LookupTable[i]-compute.NF4LookupTable[i-1])
	}
	for _, tc := range []struct {
		scheme Scheme
		group  int
		double bool
	}{{Int8, 0, false}, {Int4, 32, false}, {Int4, 128, false}, {NF4, 64, false}, {NF4, 64, true}} {
		q, err := Quantize(w, rows, cols, tc.scheme, tc.group, tc.double)
		if err != nil {
			t.Fatal(err)
		}
		deq := q.Dequantize()
		scales := q.scales()
		worst := 0.0
		for i, v := range w {
			g := (i/cols)*q.Groups() + (i%cols)/q.GroupSize
			var bound float32
			switch tc.scheme {
			case Int8, Int4:
				bound = scales[g] / 2
			case NF4:
				bound = scales[g] * nf4Gap / 2
			}
			err := math.Abs(float64(deq[i] - v))
			if tc.double {
				// The block maximum itself is off by up to half its own step.
				bound += q.ScaleScale[g/doubleQuantBlock] / 2
			}
			if err > float64(bound)*(1+1e-5) {
				t.Fatalf("%s group %d: weight %d = %g dequantizes to %g, error %g above the bound %g",
					tc.scheme, tc.group, i, v, deq[i], err, bound)
			}
			worst = max(worst, err)
		}
		t.Logf("%s group %d double %v: max error %.5f, %d bytes for %d weights", tc.scheme, tc.group, tc.double, worst, q.Bytes(), rows*cols)
	}
}

func TestQuantizeBadInput(t *testing.T) {
	w := normal(4*100, 0.1, 2)
	for _, tc := range []struct {
		scheme Scheme
		group  int
		want   string
	}{
		{"int3", 32, `unknown scheme "int3"`},
		{Int4, 64, "group size 64 does not divide the width 100"},
		{NF4, 0, "positive group size"},
	} {
		_, err := Quantize(w, 4, 100, tc.scheme, tc.group, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Quantize(%s, group %d) = %v, want an error containing %q", tc.scheme, tc.group, err, tc.want)
		}
	}
	w[7] = float32(math.NaN())
	if _, err := Quantize(w, 4, 100, Int8, 0, false); err == nil || !strings.Contains(err.Error(), "[0, 7] is NaN") {
		t.Errorf("a NaN weight: got %v", err)
	}
	if _, err := ParseScheme("fp8"); err == nil || !strings.Contains(err.Error(), `unknown scheme "fp8"`) {
		t.Errorf("ParseScheme(fp8) = %v", err)
	}
}

// goldenModel loads a golden tiny model of family.
func goldenModel(t *testing.T, family string) models.Model {
	t.Helper()
	m, err := models.Load(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// logits runs a causal LM over the golden input ids.
func logits(t *testing.T, m models.Model, family string) *tensors.Tensor {
	t.Helper()
	ids := golden.IDs(t, golden.Load(t, family), "input_ids")
	var out *modeling.Output
	var err error
	switch m := m.(type) {
	case models.CausalLM:
		out, err = m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	case *bert.Model:
		b, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Logits == nil {
			return b.Sequence
		}
		return b.Logits
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.Logits
}

func maxAbs(t *testing.T, x *tensors.Tensor) float64 {
	v, err := tensors.CopyFlatData[float32](x)
	if err != nil {
		t.Fatal(err)
	}
	m := 0.0
	for _, f := range v {
		m = max(m, math.Abs(float64(f)))
	}
	return m
}

// TestGraphDequantizationMatchesHost checks that the graph a network uses
// computes exactly Tensor.Dequantize, for every scheme.
func TestGraphDequantizationMatchesHost(t *testing.T) {
	backend := golden.Backend(t)
	const rows, cols = 6, 64
	w := normal(rows*cols, 0.1, 3)
	for _, cfg := range []Config{{Scheme: Int8}, {Scheme: Int4, GroupSize: 32}, {Scheme: NF4, GroupSize: 16}, {Scheme: NF4, GroupSize: 16, DoubleQuant: true}} {
		params := modeling.NewParams()
		if err := params.Set("h.0.fc.weight", tensors.FromFlatDataAndDimensions(w, rows, cols)); err != nil {
			t.Fatal(err)
		}
		q, err := Apply(params, cfg)
		if err != nil {
			t.Fatal(err)
		}
		host, err := Quantize(w, rows, cols, cfg.Scheme, cfg.GroupSize, cfg.DoubleQuant)
		if err != nil {
			t.Fatal(err)
		}
		if got := params.Dims("h.0.fc.weight"); got[0] != rows || got[1] != cols {
			t.Fatalf("%s: Dims = %v, want [%d %d]", cfg.Scheme, got, rows, cols)
		}
		exec, err := params.NewExec(backend, func(in []*Node) []*Node {
			return []*Node{params.Node(in[0].Graph(), "h.0.fc.weight")}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call(tensors.FromScalar(int32(0)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tensors.CopyFlatData[float32](out[0])
		if err != nil {
			t.Fatal(err)
		}
		want := host.Dequantize()
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 2.5e-7*math.Abs(float64(want[i])) {
				t.Fatalf("%s: weight %d: graph %g, host %g", cfg.Scheme, i, got[i], want[i])
			}
		}
		if q.Bytes() != host.Bytes() {
			t.Errorf("%s: Quantized.Bytes %d, Tensor.Bytes %d", cfg.Scheme, q.Bytes(), host.Bytes())
		}
	}
}

// TestRoundTrip quantizes each golden family with each scheme, checks the
// logits stay near the float model's, then saves, loads through
// models.Load and checks the loaded model gives exactly the same logits.
func TestRoundTrip(t *testing.T) {
	for _, family := range []string{"gpt2", "llama", "gemma3", "bert"} {
		// The golden models are 32 wide with 48- (llama, gemma3) and 64-wide
		// (bert, gpt2 128) MLPs: groups of 16 divide every width.
		for _, cfg := range []Config{{Scheme: Int8}, {Scheme: Int4, GroupSize: 16}, {Scheme: NF4, GroupSize: 16, DoubleQuant: true}} {
			t.Run(family+"/"+string(cfg.Scheme), func(t *testing.T) {
				m := goldenModel(t, family)
				want := logits(t, m, family)
				params := m.Params()
				q, err := Apply(params, cfg)
				if err != nil {
					if family == "bert" && strings.Contains(err.Error(), "does not divide") {
						t.Logf("expected for bert's widths: %v", err)
						cfg.Modules = []string{"query", "key", "value"}
						if q, err = Apply(params, cfg); err != nil {
							t.Fatal(err)
						}
					} else {
						t.Fatal(err)
					}
				}
				got := logits(t, m, family)
				diff := maxDiffOf(t, got, want)
				rel := diff / maxAbs(t, want)
				t.Logf("%d weights quantized, %d bytes; max |logit - fp32| = %.4g (%.2f%% of max |logit|)",
					len(q.Weights), q.Bytes(), diff, 100*rel)
				if diff == 0 || (cfg.Scheme == Int8 && rel > 0.05) {
					t.Fatalf("int8 logits differ from fp32 by %.3g of their range (want 0 < diff ≤ 0.05)", rel)
				}
				// The reference: the float model whose weights are the
				// host-side dequantization of the same codes.
				ref := goldenModel(t, family)
				refParams := ref.Params()
				for _, name := range q.Weights {
					w, err := tensors.CopyFlatData[float32](mustValue(t, refParams, name))
					if err != nil {
						t.Fatal(err)
					}
					l, _ := q.Layout(name)
					host, err := Quantize(w, l.Rows, l.Cols, cfg.Scheme, l.GroupSize, cfg.DoubleQuant)
					if err != nil {
						t.Fatal(err)
					}
					if err := refParams.Set(name, tensors.FromFlatDataAndDimensions(host.Dequantize(), l.Rows, l.Cols)); err != nil {
						t.Fatal(err)
					}
				}
				if d := maxDiffOf(t, got, logits(t, ref, family)); d > 1e-5 {
					t.Fatalf("quantized model and the float model of its dequantized weights differ by %g", d)
				}
				dir := t.TempDir()
				if err := Save(m, q, dir); err != nil {
					t.Fatal(err)
				}
				loaded, err := models.Load(dir, golden.Backend(t))
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiffOf(t, logits(t, loaded, family), got); d != 0 {
					t.Fatalf("loaded model's logits differ from the quantized model's by %g", d)
				}
				back, err := Read(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(back.Weights) != len(q.Weights) || back.Scheme != cfg.Scheme {
					t.Fatalf("Read = %+v, want %+v", back.Config, q.Config)
				}
			})
		}
	}
}

func mustValue(t *testing.T, p *modeling.Params, name string) *tensors.Tensor {
	t.Helper()
	v, err := p.Variable(name).Value()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func maxDiffOf(t *testing.T, a, b *tensors.Tensor) float64 {
	t.Helper()
	d, _, err := golden.MaxAbsDiff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadCorrupt(t *testing.T) {
	m := goldenModel(t, "gpt2")
	params := m.Params()
	q, err := Apply(params, Config{Scheme: Int4, GroupSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Save(m, q, dir); err != nil {
		t.Fatal(err)
	}
	// A scale tensor missing from the file.
	set, _ := params.Weights()
	set.Delete("h.0.attn.c_attn.weight_scale")
	if err := os.Remove(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := writeSet(dir, set); err != nil {
		t.Fatal(err)
	}
	_, err = models.Load(dir, golden.Backend(t))
	if err == nil || !strings.Contains(err.Error(), `"h.0.attn.c_attn.weight_scale" is missing`) {
		t.Fatalf("a missing scale: got %v", err)
	}
	// An unknown scheme in config.json.
	cfgPath := filepath.Join(dir, modeling.ConfigFile)
	data, _ := os.ReadFile(cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(data), `"scheme": "int4"`, `"scheme": "int5"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = models.Load(dir, golden.Backend(t))
	if err == nil || !strings.Contains(err.Error(), `unknown scheme "int5"`) || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("an unknown scheme: got %v", err)
	}
}

func TestApplyBadConfig(t *testing.T) {
	m := goldenModel(t, "llama")
	params := m.Params()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scheme: Int4, GroupSize: 32}, `"model.layers.0.mlp.down_proj.weight" [32 48]: group size 32 does not divide the width 48`},
		{Config{Scheme: "int2"}, `unknown scheme "int2"`},
		{Config{Scheme: Int8, DoubleQuant: true}, "double quantization applies to nf4 only"},
		{Config{Scheme: Int8, Modules: []string{"c_attn"}}, `modules ["c_attn"] match no`},
	} {
		_, err := Apply(params, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Apply(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	// Failed Applys changed nothing.
	if dt := params.Variable("model.layers.0.mlp.down_proj.weight").Shape().DType; dt != dtypes.Float32 {
		t.Errorf("a failed Apply left down_proj as %s", dt)
	}
}
