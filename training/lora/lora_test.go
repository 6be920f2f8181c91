package lora

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gemma"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/training"
)

// family is a golden tiny model and how to rebuild it from plain weights.
type family struct {
	name    string
	targets []string
	load    func(t *testing.T) (*modeling.Decoder, func(*weights.Set) *modeling.Decoder)
}

var families = []family{
	{"llama", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		func(t *testing.T) (*modeling.Decoder, func(*weights.Set) *modeling.Decoder) {
			m, err := llama.Load(filepath.Join(golden.Dir("llama"), "model"), golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			return m.Decoder, func(set *weights.Set) *modeling.Decoder {
				fresh, err := llama.New(m.Config, set, m.Backend)
				if err != nil {
					t.Fatal(err)
				}
				return fresh.Decoder
			}
		}},
	{"gpt2", []string{"c_attn", "c_proj", "c_fc"},
		func(t *testing.T) (*modeling.Decoder, func(*weights.Set) *modeling.Decoder) {
			m, err := gpt2.Load(filepath.Join(golden.Dir("gpt2"), "model"), golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			return m.Decoder, func(set *weights.Set) *modeling.Decoder {
				fresh, err := gpt2.New(m.Config, set, m.Backend)
				if err != nil {
					t.Fatal(err)
				}
				return fresh.Decoder
			}
		}},
	{"gemma3", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		func(t *testing.T) (*modeling.Decoder, func(*weights.Set) *modeling.Decoder) {
			m, err := gemma.Load(filepath.Join(golden.Dir("gemma3"), "model"), golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			return m.Decoder, func(set *weights.Set) *modeling.Decoder {
				fresh, err := gemma.New(m.Config, set, m.Backend)
				if err != nil {
					t.Fatal(err)
				}
				return fresh.Decoder
			}
		}},
}

func goldenIDs(t *testing.T, fam string) [][]int32 {
	return golden.IDs(t, golden.Load(t, fam), "input_ids")
}

func logits(t *testing.T, d *modeling.Decoder, ids [][]int32) *tensors.Tensor {
	t.Helper()
	out, err := d.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out.Logits
}

func maxDiff(t *testing.T, a, b *tensors.Tensor) float64 {
	t.Helper()
	d, _, err := golden.MaxAbsDiff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// randomize gives every adapter weight random values (B is zero after
// Apply, which would make merging and saving trivial).
func randomize(t *testing.T, p *modeling.Params, a *Adapters, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, name := range a.Names() {
		shape := p.Variable(name).Shape()
		data := make([]float32, shape.Size())
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.2)
		}
		if err := p.Set(name, tensors.FromFlatDataAndDimensions(data, shape.Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
}

// withoutAdapters returns the checkpoint weights of p minus the adapters.
func withoutAdapters(t *testing.T, p *modeling.Params) *weights.Set {
	t.Helper()
	set, err := p.Weights()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range set.Names() {
		if strings.Contains(name, ".lora_") {
			set.Delete(name)
		}
	}
	return set
}

func TestAdaptedModelAtInitEqualsBase(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			ids := goldenIDs(t, f.name)
			base, _ := f.load(t)
			want := logits(t, base, ids)
			d, _ := f.load(t)
			a, err := Apply(d.Params(), Config{Rank: 4, Alpha: 8, Targets: f.targets, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(a.Modules()); n == 0 {
				t.Fatal("no modules adapted")
			}
			if diff := maxDiff(t, logits(t, d, ids), want); diff != 0 {
				t.Fatalf("adapted model at init differs from the base by %g; B = 0 must make it exact", diff)
			}
		})
	}
}

func TestMergedForwardEqualsAdapted(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			ids := goldenIDs(t, f.name)
			d, rebuild := f.load(t)
			base := logits(t, rebuild(withoutAdapters(t, d.Params())), ids)
			a, err := Apply(d.Params(), Config{Rank: 4, Alpha: 8, Targets: f.targets, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			randomize(t, d.Params(), a, 2)
			adapted := logits(t, d, ids)
			if diff := maxDiff(t, adapted, base); diff < 1e-2 {
				t.Fatalf("adapters change the logits by only %g: the test would prove nothing", diff)
			}
			if err := a.Merge(); err != nil {
				t.Fatal(err)
			}
			// A model built from the merged weights alone (no transforms; GPT-2's
			// Conv1D weights go through the checkpoint's [in, out] layout and back).
			merged := logits(t, rebuild(withoutAdapters(t, d.Params())), ids)
			diff := maxDiff(t, merged, adapted)
			// The adapted model's graph, compiled before Merge, now reads the
			// merged weights and B = 0.
			stale := maxDiff(t, logits(t, d, ids), adapted)
			t.Logf("%s: max |merged - adapted| = %.3g (fresh model), %.3g (graph compiled before Merge); adapters moved logits by %.3g",
				f.name, diff, stale, maxDiff(t, adapted, base))
			if diff > 1e-5 || stale > 1e-5 {
				t.Fatalf("merged model differs from the adapted one: %g (fresh), %g (old graph)", diff, stale)
			}
			for _, name := range a.Names() {
				if d.Params().Variable(name).Trainable {
					t.Errorf("%s still trainable after Merge", name)
				}
			}
			if err := a.Merge(); err == nil {
				t.Error("second Merge succeeded")
			}
			if err := a.Save(t.TempDir()); err == nil {
				t.Error("Save after Merge succeeded")
			}
		})
	}
}

func TestTrainingChangesOnlyAdapters(t *testing.T) {
	for _, f := range families {
		if slices.Contains(f.targets, "down_proj") { // GPT-2's modules are named otherwise
			t.Run(f.name, func(t *testing.T) { trainAdapters(t, f) })
		}
	}
}

// trainAdapters trains LoRA adapters on f's golden model for a few steps
// and checks the loss falls, every adapter moves and no base weight does.
func trainAdapters(t *testing.T, f family) {
	ids := goldenIDs(t, f.name)
	d, _ := f.load(t)
	a, err := Apply(d.Params(), Config{Rank: 2, Alpha: 4, Dropout: 0.1, Targets: []string{"q_proj", "v_proj", "down_proj"}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetTraining(true); err != nil { // dropout in the training graph too
		t.Fatal(err)
	}
	before := map[string][]float32{}
	for _, name := range d.Params().Names() {
		v, err := d.Params().Variable(name).Value()
		if err != nil {
			t.Fatal(err)
		}
		before[name] = tensors.MustCopyFlatData[float32](v)
	}
	loss := func(g *Graph, batch []*Node) *Node {
		x, y := batch[0], batch[1]
		pos := Iota(g, shapes.Make(dtypes.Int32, x.Shape().Dimensions...), 1)
		logits, _, _ := d.ForwardGraph(x, pos, nil)
		return training.CrossEntropy(logits, y)
	}
	opt := training.DefaultAdamW()
	opt.WeightDecay = 0
	tr, err := training.NewTrainer(d.Params(), d.Backend, loss, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, n := len(ids), len(ids[0])-1
	var xs, ys []int32
	for _, row := range ids {
		xs, ys = append(xs, row[:n]...), append(ys, row[1:]...)
	}
	x, y := tensors.FromFlatDataAndDimensions(xs, b, n), tensors.FromFlatDataAndDimensions(ys, b, n)
	var losses []float64
	for range 5 {
		l, _, err := tr.Step(1e-2, x, y)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	t.Logf("losses %v", losses)
	if !(losses[4] < losses[0]) {
		t.Errorf("loss did not fall: %v", losses)
	}
	adapters := a.Names()
	for _, name := range d.Params().Names() {
		v, err := d.Params().Variable(name).Value()
		if err != nil {
			t.Fatal(err)
		}
		same := slices.Equal(tensors.MustCopyFlatData[float32](v), before[name])
		switch {
		case slices.Contains(adapters, name) && same:
			t.Errorf("adapter %s did not change", name)
		case !slices.Contains(adapters, name) && !same:
			t.Errorf("base weight %s changed", name)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			ids := goldenIDs(t, f.name)
			d, _ := f.load(t)
			a, err := Apply(d.Params(), Config{Rank: 3, Alpha: 6, Dropout: 0.1, Targets: f.targets, Seed: 4, BaseModel: "golden/" + f.name})
			if err != nil {
				t.Fatal(err)
			}
			randomize(t, d.Params(), a, 5)
			want := logits(t, d, ids)
			dir := t.TempDir()
			if err := a.Save(dir); err != nil {
				t.Fatal(err)
			}

			// PEFT's names and shapes.
			set, err := weights.ReadSafetensors(filepath.Join(dir, WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if set.Len() != 2*len(a.Modules()) {
				t.Fatalf("%d tensors saved for %d modules", set.Len(), len(a.Modules()))
			}
			prefix := map[string]string{"llama": "base_model.model.", "gemma3": "base_model.model.", "gpt2": "base_model.model.transformer."}[f.name]
			for _, module := range a.Modules() {
				w := d.Params().Variable(module + ".weight").Shape().Dimensions // [out, in]
				for suffix, dims := range map[string][]int{".lora_A.weight": {3, w[1]}, ".lora_B.weight": {w[0], 3}} {
					if _, err := set.Float32(prefix+module+suffix, dims...); err != nil {
						t.Error(err)
					}
				}
			}
			var cfg map[string]any
			data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]any{"peft_type": "LORA", "r": 3.0, "lora_alpha": 6.0, "lora_dropout": 0.1,
				"base_model_name_or_path": "golden/" + f.name, "fan_in_fan_out": f.name == "gpt2"} {
				if cfg[k] != v {
					t.Errorf("adapter_config.json %s = %v, want %v", k, cfg[k], v)
				}
			}

			fresh, _ := f.load(t)
			b, err := Load(fresh.Params(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.Modules(), a.Modules()) {
				t.Fatalf("loaded modules %v, saved %v", b.Modules(), a.Modules())
			}
			for _, name := range a.Names() {
				x, _ := d.Params().Variable(name).Value()
				y, _ := fresh.Params().Variable(name).Value()
				if !slices.Equal(tensors.MustCopyFlatData[float32](x), tensors.MustCopyFlatData[float32](y)) {
					t.Errorf("%s differs after the round trip", name)
				}
			}
			if diff := maxDiff(t, logits(t, fresh, ids), want); diff != 0 {
				t.Fatalf("loaded adapters give logits %g away from the saved ones", diff)
			}
		})
	}
}

func TestDropoutOnlyWhileTraining(t *testing.T) {
	ids := goldenIDs(t, "llama")
	d, _ := families[0].load(t)
	a, err := Apply(d.Params(), Config{Rank: 4, Dropout: 0.5, Targets: []string{"q_proj", "o_proj"}, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, d.Params(), a, 7)
	off := logits(t, d, ids)
	if err := a.SetTraining(true); err != nil {
		t.Fatal(err)
	}
	on1, on2 := logits(t, d, ids), logits(t, d, ids)
	if maxDiff(t, on1, off) == 0 || maxDiff(t, on1, on2) == 0 {
		t.Fatal("dropout on: logits do not change between calls or from the eval model")
	}
	if err := a.SetTraining(false); err != nil {
		t.Fatal(err)
	}
	if diff := maxDiff(t, logits(t, d, ids), off); diff != 0 {
		t.Fatalf("dropout off again: logits differ by %g", diff)
	}
}

func TestGPT2TargetsByTrailingName(t *testing.T) {
	d, _ := families[1].load(t)
	a, err := Apply(d.Params(), Config{Rank: 2, Targets: []string{"attn.c_proj"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Modules(), []string{"h.0.attn.c_proj", "h.1.attn.c_proj"}; !slices.Equal(got, want) {
		t.Fatalf("modules %v, want %v", got, want)
	}
	if a.Config.Scale() != 1 {
		t.Errorf("alpha 0 gives scale %v, want 1", a.Config.Scale())
	}
}

func TestBadInput(t *testing.T) {
	targets := []string{"q_proj"}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rank: 0, Targets: targets}, "rank 0"},
		{Config{Rank: -2, Targets: targets}, "rank -2"},
		{Config{Rank: 2, Alpha: -1, Targets: targets}, "alpha"},
		{Config{Rank: 2, Dropout: 1, Targets: targets}, "dropout"},
		{Config{Rank: 2}, "no target modules"},
		{Config{Rank: 2, Targets: []string{"query", "value"}}, `["query" "value"]`},
		{Config{Rank: 2, Targets: []string{"q_proj", "c_attn"}}, `["c_attn"]`},
		{Config{Rank: 2, Targets: []string{"input_layernorm"}}, `"input_layernorm"`}, // 1-D weights are no linear layers
	} {
		d, _ := families[0].load(t)
		_, err := Apply(d.Params(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Apply(%+v) = %v, want an error containing %s", c.cfg, err, c.want)
		}
		for _, name := range d.Params().Names() {
			if !d.Params().Variable(name).Trainable {
				t.Errorf("failed Apply(%+v) froze %s", c.cfg, name)
				break
			}
		}
	}

	d, _ := families[0].load(t)
	a, err := Apply(d.Params(), Config{Rank: 2, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(d.Params(), Config{Rank: 2, Targets: targets}); err == nil || !strings.Contains(err.Error(), "already has adapters") {
		t.Errorf("second Apply: %v", err)
	}
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	// A GPT-2 model has no q_proj.
	g, _ := families[1].load(t)
	if _, err := Load(g.Params(), dir); err == nil || !strings.Contains(err.Error(), `"q_proj"`) {
		t.Errorf("loading llama adapters onto GPT-2: %v", err)
	}
	// A tensor missing, one of the wrong shape, one too many.
	set, err := weights.ReadSafetensors(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	name := "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"
	orig, _ := set.Get(name)
	for _, c := range []struct {
		edit func(s *weights.Set)
		want string
	}{
		{func(s *weights.Set) { s.Delete(name) }, "missing"},
		{func(s *weights.Set) { s.Add(name, tensors.FromShape(shapes.Make(dtypes.Float32, 32, 3)), "") }, "shape [32 3], want [32 2]"},
		{func(s *weights.Set) { s.Add("base_model.model.lm_head.lora_A.weight", orig, "") }, "lm_head.lora_A"},
	} {
		bad := t.TempDir()
		s, _ := weights.ReadSafetensors(filepath.Join(dir, WeightsFile))
		c.edit(s)
		if err := weights.WriteSafetensors(filepath.Join(bad, WeightsFile), s, nil); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
		os.WriteFile(filepath.Join(bad, ConfigFile), data, 0o644)
		fresh, _ := families[0].load(t)
		_, err := Load(fresh.Params(), bad)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load: %v, want an error containing %q", err, c.want)
		}
		if fresh.Params().Has("model.layers.0.self_attn.q_proj.lora_A.weight") {
			t.Error("a failed Load left adapters in the model")
		}
	}
}

// TestNonFiniteAdapters loads PEFT adapters whose values, or whose scaled
// product with the base weights, are not finite in float32 (NaN, 3e38
// values whose product overflows, lora_alpha 1e308): each is an error
// naming the file and the tensor or field, where the model would
// otherwise decode token 0 over and over. Merge refuses an overflowing
// merged weight too.
func TestNonFiniteAdapters(t *testing.T) {
	d, _ := families[0].load(t)
	a, err := Apply(d.Params(), Config{Rank: 2, Targets: []string{"q_proj"}})
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, d.Params(), a, 3)
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	nameA := "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"
	nameB := "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"
	fill := func(name string, v float32) func(*weights.Set, map[string]any) {
		return func(s *weights.Set, _ map[string]any) {
			x, _ := s.Get(name)
			values := tensors.MustCopyFlatData[float32](x)
			values[len(values)/2] = v
			if v > 1e30 { // every value huge, so that the product certainly overflows
				for i := range values {
					values[i] = v
				}
			}
			s.Add(name, tensors.FromFlatDataAndDimensions(values, x.Shape().Dimensions...), "")
		}
	}
	both := func(f, g func(*weights.Set, map[string]any)) func(*weights.Set, map[string]any) {
		return func(s *weights.Set, c map[string]any) { f(s, c); g(s, c) }
	}
	for _, tc := range []struct {
		name string
		edit func(s *weights.Set, cfg map[string]any)
		want []string
	}{
		{"NaN in A", fill(nameA, float32(math.NaN())), []string{WeightsFile, nameA, "is NaN"}},
		{"infinity in B", fill(nameB, float32(math.Inf(-1))), []string{WeightsFile, nameB, "is -Inf"}},
		{"3e38 in A and B", both(fill(nameA, 3e38), fill(nameB, 3e38)), []string{WeightsFile, `module "model.layers.1.self_attn.q_proj"`, "past float32"}},
		{"3e38 in B, scaled", both(fill(nameB, 3e38), func(_ *weights.Set, c map[string]any) { c["lora_alpha"] = 4.0 }), []string{"past float32"}},
		{"lora_alpha 1e308", func(_ *weights.Set, c map[string]any) { c["lora_alpha"] = 1e308 }, []string{ConfigFile, "alpha 1e+308 over rank 2"}},
	} {
		bad := t.TempDir()
		s, err := weights.ReadSafetensors(filepath.Join(dir, WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
		json.Unmarshal(data, &cfg)
		tc.edit(s, cfg)
		if err := weights.WriteSafetensors(filepath.Join(bad, WeightsFile), s, nil); err != nil {
			t.Fatal(err)
		}
		data, _ = json.Marshal(cfg)
		os.WriteFile(filepath.Join(bad, ConfigFile), data, 0o644)
		fresh, _ := families[0].load(t)
		_, err = Load(fresh.Params(), bad)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v; want one saying %q", tc.name, err, w)
			}
		}
	}

	// 1e20 everywhere in A and B: B·A holds 2e40, past float32.
	w := d.Params().Dims("model.layers.0.self_attn.q_proj.weight") // [out, in]
	for name, dims := range map[string][]int{"model.layers.0.self_attn.q_proj.lora_A.weight": {2, w[1]}, "model.layers.0.self_attn.q_proj.lora_B.weight": {w[0], 2}} {
		huge := make([]float32, dims[0]*dims[1])
		for i := range huge {
			huge[i] = 1e20
		}
		if err := d.Params().Set(name, tensors.FromFlatDataAndDimensions(huge, dims...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Merge(); err == nil || !strings.Contains(err.Error(), `"model.layers.0.self_attn.q_proj": the merged weight's value 0`) {
		t.Errorf("Merge of an overflowing update: %v", err)
	}
}
