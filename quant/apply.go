package quant

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Config says which weights to quantize and how.
type Config struct {
	// Scheme is Int8, Int4 or NF4.
	Scheme Scheme `json:"scheme"`
	// GroupSize is the number of inputs sharing a scale for Int4 and NF4
	// (32, 64 or 128 are usual); 0 means DefaultGroupSize. It must divide
	// the width of every weight quantized.
	GroupSize int `json:"group_size,omitempty"`
	// DoubleQuant quantizes NF4's block maxima again (QLoRA), saving about
	// 0.4 bits per weight.
	DoubleQuant bool `json:"double_quant,omitempty"`
	// Modules names the linear layers to quantize, as LoRA targets do (the
	// module name or its trailing dotted parts: "c_attn", "q_proj",
	// "mlp.c_fc"); empty means every linear layer inside the transformer
	// blocks (a 2-D weight with a layer number in its name). Embeddings,
	// the LM head and task heads stay float32 unless named.
	Modules []string `json:"modules,omitempty"`
	// Route is how the quantized weights reach their products: Auto (the
	// fused route on a backend made by NewFusedBackend, else dequantize),
	// Dequantize or Fused. Fused refuses a scheme without a fused product
	// (NF4) here, and an engine without one when a graph is built. It is
	// not saved: a quantized folder takes the route of the backend it is
	// loaded on.
	Route Route `json:"-"`
}

// check validates c and fills in the default group size.
func (c *Config) check() error {
	if !slices.Contains(Schemes, c.Scheme) {
		return fmt.Errorf("quant: unknown scheme %q (supported: int8, int4, nf4)", c.Scheme)
	}
	if c.Scheme.Grouped() && c.GroupSize == 0 {
		c.GroupSize = DefaultGroupSize
	}
	if c.GroupSize < 0 {
		return fmt.Errorf("quant: group size %d must be positive", c.GroupSize)
	}
	if c.DoubleQuant && c.Scheme != NF4 {
		return fmt.Errorf("quant: double quantization applies to nf4 only, not %s", c.Scheme)
	}
	if _, err := ParseRoute(string(c.Route)); err != nil {
		return err
	}
	if c.Route == Fused {
		if err := fusable(Layout{Scheme: c.Scheme, GroupSize: c.GroupSize}); err != nil {
			return fmt.Errorf("quant: route %s: %w", Fused, err)
		}
	}
	return nil
}

// Quantized records what Apply did to a model's weights; Save writes it as
// config.json's "quantization_config".
type Quantized struct {
	Config
	// Weights are the quantized weights' names, sorted.
	Weights []string `json:"weights"`
	// Transposed names the weights stored as the transpose of their
	// checkpoint layout (GPT-2's Conv1D weights, see modeling.Spec): their
	// codes are [out, in], the checkpoint's float tensor is [in, out].
	Transposed []string `json:"transposed,omitempty"`
	// layouts describe each quantized weight.
	layouts map[string]Layout
}

// Layout returns how weight name is quantized.
func (q *Quantized) Layout(name string) (Layout, bool) {
	l, ok := q.layouts[name]
	return l, ok
}

// Bytes returns the size of the quantized weights (codes and scales).
func (q *Quantized) Bytes() int {
	n := 0
	for _, l := range q.layouts {
		n += l.bytes()
	}
	return n
}

// bytes is the stored size of a weight with layout l.
func (l Layout) bytes() int {
	groups := l.Rows * l.Groups()
	switch l.Scheme {
	case Int8:
		return l.Rows*l.Cols + 4*l.Rows
	case Int4:
		return l.Rows*l.Cols/2 + 5*groups
	}
	if l.DoubleQuant {
		blocks := (groups + doubleQuantBlock - 1) / doubleQuantBlock
		return l.Rows*l.Cols/2 + blocks*doubleQuantBlock + 4*blocks + 4
	}
	return l.Rows*l.Cols/2 + 4*groups
}

// blockWeight matches a weight inside a numbered transformer block.
var blockWeight = regexp.MustCompile(`\.\d+\.`)

// Targets returns the names of the weights of params that cfg quantizes,
// sorted. A module named in cfg.Modules that matches no 2-D weight is an
// error listing the model's linear layers.
func Targets(params *modeling.Params, cfg Config) ([]string, error) {
	var names []string
	matched := map[string]bool{}
	for _, name := range params.Names() {
		module, ok := strings.CutSuffix(name, ".weight")
		if !ok || params.Variable(name).Shape().Rank() != 2 || params.Variable(name).Shape().DType != dtypes.Float32 {
			continue
		}
		if len(cfg.Modules) == 0 {
			if blockWeight.MatchString(name) {
				names = append(names, name)
			}
			continue
		}
		for _, target := range cfg.Modules {
			if modeling.ModuleMatches(module, target) {
				matched[target] = true
				names = append(names, name)
				break
			}
		}
	}
	var missing []string
	for _, target := range cfg.Modules {
		if !matched[target] {
			missing = append(missing, target)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("quant: modules %q match no float 2-D weight of the model", missing)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("quant: the model has no linear layer to quantize")
	}
	return names, nil
}

// Apply quantizes the linear layers cfg names in params: each float32
// weight is replaced by its codes and scales (so the model holds only the
// quantized form) and by a transform that dequantizes it inside every graph
// built afterwards, on any backend. Quantized weights are frozen
// (Trainable false); LoRA adapters applied afterwards train on top of them
// (QLoRA). The model rebuilds its graphs on its next call
// (modeling.Params.Generation). Every weight is checked before any is
// changed, so an error leaves params as they were.
func Apply(params *modeling.Params, cfg Config) (*Quantized, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	names, err := Targets(params, cfg)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		dims := params.Variable(name).Shape().Dimensions
		if err := checkShape(cfg.Scheme, dims[0], dims[1], cfg.GroupSize); err != nil {
			return nil, fmt.Errorf("quant: weight %q %v: %w", name, dims, err)
		}
	}
	q := &Quantized{Config: cfg, layouts: map[string]Layout{}}
	for _, name := range names {
		v := params.Variable(name)
		value, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("quant: weight %q: %w", name, err)
		}
		w, err := tensors.CopyFlatData[float32](value)
		if err != nil {
			return nil, fmt.Errorf("quant: weight %q: %w", name, err)
		}
		dims := v.Shape().Dimensions
		t, err := Quantize(w, dims[0], dims[1], cfg.Scheme, cfg.GroupSize, cfg.DoubleQuant)
		if err != nil {
			return nil, fmt.Errorf("quant: weight %q: %w", name, err)
		}
		if params.Transposed(name) {
			q.Transposed = append(q.Transposed, name)
		}
		if err := params.Delete(name); err != nil {
			return nil, err
		}
		if err := install(params, name, t.storedTensors()); err != nil {
			return nil, err
		}
		if err := setTransform(params, name, t.Layout, cfg.Route); err != nil {
			return nil, err
		}
		q.Weights = append(q.Weights, name)
		q.layouts[name] = t.Layout
	}
	return q, nil
}

// storedTensors returns t as the tensors stored under a weight's name
// (suffix "" holds the codes) and its suffixed names.
func (t *Tensor) storedTensors() map[string]*tensors.Tensor {
	out := map[string]*tensors.Tensor{}
	if t.Scheme == Int8 {
		codes := make([]int8, len(t.Codes))
		for i, c := range t.Codes {
			codes[i] = int8(c)
		}
		out[""] = tensors.FromFlatDataAndDimensions(codes, t.Rows, t.Cols)
		out[suffixScale] = tensors.FromFlatDataAndDimensions(t.Scale, t.Rows)
		return out
	}
	out[""] = tensors.FromFlatDataAndDimensions(t.Codes, t.Rows, t.Cols/2)
	if t.Scheme == Int4 {
		out[suffixZero] = tensors.FromFlatDataAndDimensions(t.Zero, t.Rows, t.Groups())
	}
	if t.DoubleQuant {
		out[suffixScaleCodes] = tensors.FromFlatDataAndDimensions(t.ScaleCodes, len(t.ScaleCodes))
		out[suffixScaleScale] = tensors.FromFlatDataAndDimensions(t.ScaleScale, len(t.ScaleScale))
		out[suffixScaleOffset] = tensors.FromScalar(t.ScaleOffset)
	} else {
		out[suffixScale] = tensors.FromFlatDataAndDimensions(t.Scale, t.Rows, t.Groups())
	}
	return out
}

// layoutOf reads a weight's layout back from its stored tensors.
func layoutOf(cfg Config, name string, stored map[string]*tensors.Tensor) (Layout, error) {
	codes := stored[""]
	dims := codes.Shape().Dimensions
	if len(dims) != 2 {
		return Layout{}, fmt.Errorf("weight %q: codes must be 2-D, got %v", name, dims)
	}
	l := Layout{Scheme: cfg.Scheme, Rows: dims[0], Cols: dims[1], GroupSize: cfg.GroupSize, DoubleQuant: cfg.DoubleQuant}
	codeType := dtypes.Int8
	if cfg.Scheme != Int8 {
		l.Cols *= 2
		codeType = dtypes.Uint8
	} else {
		l.GroupSize = l.Cols
	}
	if codes.DType() != codeType {
		return Layout{}, fmt.Errorf("weight %q: %s codes must be %s, got %s", name, cfg.Scheme, codeType, codes.DType())
	}
	if err := checkShape(l.Scheme, l.Rows, l.Cols, l.GroupSize); err != nil {
		return Layout{}, fmt.Errorf("weight %q: %w", name, err)
	}
	scales := l.Rows * l.Groups()
	type want struct {
		dtype dtypes.DType
		size  int
	}
	expect := map[string]want{}
	switch {
	case l.Scheme == Int8:
		expect[suffixScale] = want{dtypes.Float32, l.Rows}
	case l.DoubleQuant:
		blocks := (scales + doubleQuantBlock - 1) / doubleQuantBlock
		expect[suffixScaleCodes] = want{dtypes.Int8, blocks * doubleQuantBlock}
		expect[suffixScaleScale] = want{dtypes.Float32, blocks}
		expect[suffixScaleOffset] = want{dtypes.Float32, 1}
	default:
		expect[suffixScale] = want{dtypes.Float32, scales}
	}
	if l.Scheme == Int4 {
		expect[suffixZero] = want{dtypes.Uint8, scales}
	}
	for suffix, e := range expect {
		t, ok := stored[suffix]
		if !ok {
			return Layout{}, fmt.Errorf("tensor %q is missing", name+suffix)
		}
		if t.DType() != e.dtype || t.Shape().Size() != e.size {
			return Layout{}, fmt.Errorf("tensor %q: want %d %s values, got %s", name+suffix, e.size, e.dtype, t.Shape())
		}
	}
	return l, nil
}

// install stores a quantized weight's tensors in params under name and its
// suffixed names, frozen, with the dequantizing transform.
func install(params *modeling.Params, name string, stored map[string]*tensors.Tensor) error {
	for suffix, t := range stored {
		if err := params.Set(name+suffix, t); err != nil {
			return err
		}
		params.Variable(name + suffix).SetTrainable(false)
	}
	return nil
}

// setTransform makes the network see weight name, stored with layout l, as
// its float32 [rows, cols] dequantization. On the fused route the graph is
// the same: the backend's compiler finds the dequantization and the
// products that read it in the compiled program and replaces them (see
// NewFusedBackend); a route the graph's backend cannot take is an error
// when the graph is built.
func setTransform(params *modeling.Params, name string, l Layout, route Route) error {
	params.SetDims(name, l.Rows, l.Cols)
	return params.SetTransform(name, func(g *graph.Graph, codes *graph.Node) *graph.Node {
		if _, err := fuseWeight(g.Backend(), name, l, route); err != nil {
			panic(err)
		}
		return dequantize(codes, &l, func(suffix string) *graph.Node { return params.Raw(g, name+suffix) })
	})
}

// ApplyNamed is Apply with the scheme named as an experiment's flag names
// it ("nf4" for QLoRA's frozen base, "int4", "int8"), or nothing when name
// is empty; cfg's Scheme is replaced by it.
func ApplyNamed(params *modeling.Params, name string, cfg Config) (*Quantized, error) {
	if name == "" {
		return nil, nil
	}
	scheme, err := ParseScheme(name)
	if err != nil {
		return nil, err
	}
	cfg.Scheme = scheme
	return Apply(params, cfg)
}
