// Package lora adds LoRA adapters (Hu et al., 2021, as Hugging Face's PEFT
// implements them) to chosen linear layers of any model family: for each
// target weight W [out, in] it creates A [r, in] (kaiming-uniform, as PEFT's
// default init) and B [out, r] (zeros), freezes every base weight, and makes
// the network use W + (alpha/r)·B·A through Params.SetTransform, from outside
// the family's network file. Only A and B are trainable, so a
// training.Trainer over the same Params trains the adapters alone.
//
// Save writes the adapters only, as PEFT does (adapter_model.safetensors with
// names base_model.model.<module>.lora_A.weight and adapter_config.json);
// Load puts them back onto a freshly loaded model; Merge folds them into the
// base weights.
//
// Layout. Every family keeps linear weights as [out, in] in its Params, and
// the adapters are PEFT's own shapes: lora_A.weight [r, in], lora_B.weight
// [out, r]. GPT-2's Conv1D weights are [in, out] in its checkpoint (Params
// holds them transposed); PEFT adapts Conv1D with fan_in_fan_out=True and
// still gives lora_A the shape [r, in] and lora_B [out, r] (only the merged
// delta is transposed onto the Conv1D weight), so the tensors saved here for
// GPT-2 are exactly PEFT's, under PEFT's GPT2LMHeadModel names
// (base_model.model.transformer.h.N.attn.c_attn.lora_A.weight), with
// "fan_in_fan_out": true in adapter_config.json.
//
// Dropout. PEFT applies dropout to the LoRA branch's input x, one mask per
// token. A weight transform never sees x, so it cannot do that. With
// Config.Dropout > 0 and SetTraining(true), every adapted weight draws, at
// each execution of a graph, one mask m over A's input columns (the
// features of x) and scales the kept ones by 1/(1-p): the LoRA branch
// computes B·A·(m ⊙ x)/(1-p), which is PEFT's dropout with one mask shared
// by every token of the batch instead of one per token. It has the same
// expectation; its noise is correlated across the batch. The masks come from an RNG state kept on the device and seeded
// from Config.Seed; it is not part of a training checkpoint, so a resumed run
// with dropout draws different masks. With SetTraining(false) (the default)
// the adapters are deterministic.
//
// Cost. The transform forms W + scale·B·A in every forward pass (a temporary
// the size of W per adapted weight, out·in·r multiply-adds). That is small
// next to training's own work, but for generation Merge the adapters first.
package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Config selects where adapters go and how large they are, as PEFT's
// LoraConfig does (r, lora_alpha, lora_dropout, target_modules,
// base_model_name_or_path).
type Config struct {
	// Rank is r, the inner dimension of B·A (PEFT's r); it must be positive.
	Rank int
	// Alpha is lora_alpha; the update is scaled by Alpha/Rank. 0 means Rank
	// (a scale of 1).
	Alpha float64
	// Dropout is lora_dropout, in [0, 1); see the package doc for what it
	// does here.
	Dropout float64
	// Targets are module names (a weight's name before ".weight") or their
	// trailing parts, as PEFT's target_modules: "q_proj" matches
	// "model.layers.0.self_attn.q_proj", "attn.c_proj" matches
	// "h.0.attn.c_proj" but not "h.0.mlp.c_proj". LLaMA's linear layers are
	// q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; GPT-2's
	// c_attn, c_proj (attention and MLP), c_fc. Every target must match at
	// least one 2-D weight.
	Targets []string
	// Seed seeds A's initialization and the dropout masks.
	Seed uint64
	// BaseModel is recorded as base_model_name_or_path in adapter_config.json.
	BaseModel string
}

// Scale returns Alpha/Rank, the factor on B·A.
func (c Config) Scale() float64 {
	alpha := c.Alpha
	if alpha == 0 {
		alpha = float64(c.Rank)
	}
	return alpha / float64(c.Rank)
}

func (c Config) check() error {
	switch {
	case c.Rank <= 0:
		return fmt.Errorf("lora: rank %d must be positive", c.Rank)
	case c.Alpha < 0 || math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0):
		return fmt.Errorf("lora: alpha %v must be a non-negative number", c.Alpha)
	case c.Scale() > maxScale:
		// The graph multiplies by the scale in float32.
		return fmt.Errorf("lora: alpha %v over rank %d is a scale of %v, more than the %v float32 arithmetic on the update allows", c.Alpha, c.Rank, c.Scale(), maxScale)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("lora: dropout %v must be in [0, 1)", c.Dropout)
	case len(c.Targets) == 0:
		return fmt.Errorf("lora: no target modules (set Config.Targets, e.g. q_proj, v_proj)")
	}
	for _, t := range c.Targets {
		if t == "" || strings.HasPrefix(t, ".") || strings.HasSuffix(t, ".") {
			return fmt.Errorf("lora: target module %q is not a module name", t)
		}
	}
	return nil
}

// maxMagnitude bounds every value the adapted weight W + scale·B·A may
// reach, and every partial sum on the way: half of float32's largest, so
// that rounding cannot carry it past. maxScale bounds the scale alone.
const (
	maxMagnitude = math.MaxFloat32 / 2
	maxScale     = maxMagnitude
)

// Adapters are the LoRA adapters applied to one model's Params.
type Adapters struct {
	Config Config
	params *modeling.Params
	// modules are the adapted modules, sorted ("model.layers.0.self_attn.q_proj").
	modules []string
	// frozen are the base weights whose Trainable flag Apply cleared.
	frozen []string
	layout layout
	merged bool
	// dropout switch (float32 scalar, 0 or 1) and RNG state, Store variables
	// outside Params (so trainers and checkpoints leave them alone); nil when
	// Config.Dropout is 0.
	dropoutOn, dropoutRNG *model.Variable
}

// Name suffixes of the adapter weights in Params and in saved files.
const (
	suffixA = ".lora_A.weight"
	suffixB = ".lora_B.weight"
)

// Apply adds adapters to every 2-D weight of params whose module matches one
// of cfg.Targets, freezes all other weights (Trainable false), and sets the
// transforms that make every graph built afterwards use W + scale·B·A. The
// model rebuilds its graphs on its next call (modeling.Params.Generation);
// create the Trainer after Apply.
func Apply(params *modeling.Params, cfg Config) (*Adapters, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	modules, err := targetModules(params, cfg.Targets)
	if err != nil {
		return nil, err
	}
	names := params.Names()
	a := &Adapters{Config: cfg, params: params, modules: modules, layout: layoutOf(params)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x4c6f5241))
	for _, module := range modules {
		dims := params.Dims(module + ".weight") // quantized weights store packed codes
		out, in := dims[0], dims[1]
		// PEFT: nn.init.kaiming_uniform_(lora_A.weight, a=sqrt(5)), a bound of
		// gain·sqrt(3/fan_in) with gain sqrt(2/(1+5)): 1/sqrt(in).
		bound := 1 / math.Sqrt(float64(in))
		data := make([]float32, cfg.Rank*in)
		for i := range data {
			data[i] = float32((2*rng.Float64() - 1) * bound)
		}
		if err := params.Set(module+suffixA, tensors.FromFlatDataAndDimensions(data, cfg.Rank, in)); err != nil {
			return nil, err
		}
		if err := params.Set(module+suffixB, tensors.FromShape(shapes.Make(dtypes.Float32, out, cfg.Rank))); err != nil {
			return nil, err
		}
	}
	if cfg.Dropout > 0 {
		if err := a.newDropout(); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if v := params.Variable(name); v.Trainable {
			v.SetTrainable(false)
			a.frozen = append(a.frozen, name)
		}
	}
	for _, module := range modules {
		params.Variable(module + suffixA).SetTrainable(true)
		params.Variable(module + suffixB).SetTrainable(true)
		if err := params.SetTransform(module+".weight", a.transform(module)); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// targetModules returns the modules of params' 2-D weights that targets
// name, sorted; a target that names none is an error.
func targetModules(params *modeling.Params, targets []string) ([]string, error) {
	matched := map[string]bool{}
	var modules []string
	for _, name := range params.Names() {
		if strings.HasSuffix(name, suffixA) || strings.HasSuffix(name, suffixB) {
			return nil, fmt.Errorf("lora: the model already has adapters (%q)", name)
		}
		module, ok := strings.CutSuffix(name, ".weight")
		if !ok || params.Variable(name).Shape().Rank() != 2 {
			continue
		}
		hit := false
		for _, t := range targets {
			if modeling.ModuleMatches(module, t) {
				matched[t], hit = true, true
			}
		}
		if hit {
			modules = append(modules, module)
		}
	}
	var missing []string
	for _, t := range targets {
		if !matched[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("lora: target modules %q match no 2-D weight of the model (its linear layers: %s)",
			missing, describeModules(params))
	}
	return modules, nil
}

// describeModules lists a few module names of params' 2-D weights, for errors.
func describeModules(params *modeling.Params) string {
	seen := map[string]bool{}
	var short []string
	for _, name := range params.Names() {
		module, ok := strings.CutSuffix(name, ".weight")
		if !ok || params.Variable(name).Shape().Rank() != 2 {
			continue
		}
		last := module[strings.LastIndex(module, ".")+1:]
		if !seen[last] {
			seen[last] = true
			short = append(short, fmt.Sprintf("%q", last))
		}
	}
	if len(short) == 0 {
		return "none"
	}
	return strings.Join(short, ", ")
}

// dropoutPath is where the dropout switch and RNG state live in the Store.
const dropoutPath = "/lora_dropout/"

func (a *Adapters) newDropout() error {
	store := a.params.Store
	on, err := store.CreateVariable(dropoutPath+"on", tensors.FromScalar(float32(0)))
	if err != nil {
		return err
	}
	state, err := RNGStateFromSeed(int64(a.Config.Seed))
	if err != nil {
		return err
	}
	rng, err := store.CreateVariable(dropoutPath+"rng", state)
	if err != nil {
		return err
	}
	a.dropoutOn, a.dropoutRNG = on.SetTrainable(false), rng.SetTrainable(false)
	return nil
}

// transform is the weight module's network view: W + scale·B·A, with A's
// columns dropped out while training (see the package doc).
func (a *Adapters) transform(module string) modeling.Transform {
	scale := a.Config.Scale()
	return func(g *Graph, stored *Node) *Node {
		loraA := a.params.Raw(g, module+suffixA) // [r, in]
		loraB := a.params.Raw(g, module+suffixB) // [out, r]
		if a.dropoutOn != nil {
			loraA = Mul(loraA, a.dropoutMask(g, loraA.Shape().Dimensions[1]))
		}
		delta := Einsum("or,ri->oi", loraB, loraA)
		return Add(stored, MulScalar(delta, scale))
	}
}

// dropoutMask returns [1, in]: 1 everywhere when dropout is off, else kept
// columns 1/(1-p) and dropped ones 0, from the next draw of the RNG state.
func (a *Adapters) dropoutMask(g *Graph, in int) *Node {
	p := a.Config.Dropout
	state, u := RandomUniform(a.dropoutRNG.NodeValue(g), shapes.Make(dtypes.Float32, 1, in))
	a.dropoutRNG.SetNodeValue(state)
	keep := MulScalar(ConvertDType(GreaterOrEqual(u, Scalar(g, dtypes.Float32, p)), dtypes.Float32), 1/(1-p))
	// 1 + on·(keep - 1): exactly 1 when the switch is 0.
	return OnePlus(Mul(a.dropoutOn.NodeValue(g), AddScalar(keep, -1)))
}

// SetTraining turns dropout on (true) or off, as PyTorch's model.train() and
// model.eval() do; it takes effect in graphs already compiled, since the
// switch is a variable. Without dropout (Config.Dropout 0) it does nothing.
// Call it with true before training steps and false before evaluations.
func (a *Adapters) SetTraining(on bool) error {
	if a.dropoutOn == nil {
		return nil
	}
	v := float32(0)
	if on {
		v = 1
	}
	return a.dropoutOn.SetValue(tensors.FromScalar(v))
}

// Modules returns the adapted modules, sorted.
func (a *Adapters) Modules() []string { return slices.Clone(a.modules) }

// Names returns the adapter weights' names in Params (each module's
// "<module>.lora_A.weight" and "<module>.lora_B.weight"), sorted.
func (a *Adapters) Names() []string {
	var names []string
	for _, m := range a.modules {
		names = append(names, m+suffixA, m+suffixB)
	}
	sort.Strings(names)
	return names
}

// NumParams returns the number of adapter weights (what training updates).
func (a *Adapters) NumParams() int {
	n := 0
	for _, name := range a.Names() {
		n += a.params.Variable(name).Shape().Size()
	}
	return n
}

// Merge folds the adapters into the base weights, W ← W + scale·B·A
// (computed on the host with float64 sums), removes the transforms, sets B to
// zero (so that graphs compiled before Merge, which still add scale·B·A,
// give the merged model too) and restores the Trainable flags Apply cleared
// (the adapters become untrainable). The adapter weights stay in Params —
// Params has no way to drop a weight — so a full save of a merged model
// (the family's Save, Params.Weights) also writes them, as zeros for B;
// Hugging Face's loaders and this repository's ignore such extra tensors.
// Save is refused after Merge.
func (a *Adapters) Merge() error {
	if a.merged {
		return fmt.Errorf("lora: adapters already merged")
	}
	scale := a.Config.Scale()
	for _, module := range a.modules {
		w, err := a.value(module + ".weight")
		if err != nil {
			return err
		}
		loraA, err := a.value(module + suffixA)
		if err != nil {
			return err
		}
		loraB, err := a.value(module + suffixB)
		if err != nil {
			return err
		}
		r := a.Config.Rank
		out, in := len(loraB)/r, len(loraA)/r
		merged := make([]float32, len(w))
		for o := range out {
			for i := range in {
				sum := 0.0
				for k := range r {
					sum += float64(loraB[o*r+k]) * float64(loraA[k*in+i])
				}
				merged[o*in+i] = float32(float64(w[o*in+i]) + scale*sum)
			}
		}
		if err := weights.CheckFinite(merged); err != nil {
			return fmt.Errorf("lora: merging the adapters of %q: the merged weight's %w", module, err)
		}
		if err := a.params.Set(module+".weight", tensors.FromFlatDataAndDimensions(merged, out, in)); err != nil {
			return err
		}
		if err := a.params.SetTransform(module+".weight", nil); err != nil {
			return err
		}
		if err := a.params.Set(module+suffixB, tensors.FromShape(shapes.Make(dtypes.Float32, out, r))); err != nil {
			return err
		}
	}
	for _, name := range a.Names() {
		a.params.Variable(name).SetTrainable(false)
	}
	for _, name := range a.frozen {
		a.params.Variable(name).SetTrainable(true)
	}
	a.merged = true
	return nil
}

// value copies weight name to the host as float32.
func (a *Adapters) value(name string) ([]float32, error) {
	t, err := a.params.Variable(name).Value()
	if err != nil {
		return nil, fmt.Errorf("lora: weight %q: %w", name, err)
	}
	if dt := t.DType(); dt != dtypes.Float32 {
		return nil, fmt.Errorf("lora: weight %q is stored as %s (a quantized base): merging needs float32 weights", name, dt)
	}
	return tensors.CopyFlatData[float32](t)
}

// checkUpdate checks that the adapter of module, A [r, in] and B [out, r]
// as Load read them (values, under the names the file gives them), keeps
// W + scale·B·A finite in float32: A and B finite, and a bound on every
// product and sum the graph forms, scale·max_o Σ_k |B[o,k]| · max |A|
// (plus max |W| for a float32 base), within maxMagnitude. Values of 3e38
// are finite, yet their product is not: a check of A and B alone would
// pass them.
func checkUpdate(params *modeling.Params, set *weights.Set, module string, names map[string]string, values map[string]*tensors.Tensor, cfg Config) error {
	var maxA, maxRowB float64
	for _, suffix := range []string{suffixA, suffixB} {
		v := tensors.MustCopyFlatData[float32](values[module+suffix])
		if err := weights.CheckFinite(v); err != nil {
			return fmt.Errorf("%s: %w", set.Where(names[module+suffix]), err)
		}
		if suffix == suffixA {
			maxA = maxAbs(v)
			continue
		}
		for row := range slices.Chunk(v, cfg.Rank) {
			sum := 0.0
			for _, x := range row {
				sum += math.Abs(float64(x))
			}
			maxRowB = max(maxRowB, sum)
		}
	}
	bound := maxRowB * maxA * max(1, cfg.Scale())
	if w, err := params.Variable(module + ".weight").Value(); err == nil && w.DType() == dtypes.Float32 {
		bound += maxAbs(tensors.MustCopyFlatData[float32](w))
	}
	if !(bound <= maxMagnitude) {
		return fmt.Errorf("%s: module %q: the update scale·B·A (scale %v, largest |A| %.3g, largest row sum of |B| %.3g) may reach %.3g with the base weight, past float32's %.3g",
			set.Source, module, cfg.Scale(), maxA, maxRowB, bound, float64(math.MaxFloat32))
	}
	return nil
}

func maxAbs(values []float32) float64 {
	m := 0.0
	for _, v := range values {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
