package modeling

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/weights"
)

// What the families that read llama.cpp GGUF files share: reading the
// architecture's metadata keys into config fields, llama.cpp's tensor
// names, and taking a network's weights from the file under those names.

// GGUFMeta reads a GGUF file's metadata into config fields: a key that is
// absent leaves its field as it is unless it is required. After the first
// error it reads nothing more, and Err keeps that error, which names the
// file and the key.
type GGUFMeta struct {
	Info *weights.GGUFInfo
	Err  error
}

// Read calls get for key when it is present (or required) and nothing has
// failed yet.
func (m *GGUFMeta) Read(key string, required bool, get func(string) error) {
	if _, ok := m.Info.Meta(key); m.Err == nil && (ok || required) {
		m.Err = get(key)
	}
}

// Int reads the integer key into field.
func (m *GGUFMeta) Int(key string, field *int, required bool) {
	m.Read(key, required, func(key string) (e error) { *field, e = m.Info.MetaInt(key); return e })
}

// Float reads the float key into field.
func (m *GGUFMeta) Float(key string, field *float64, required bool) {
	m.Read(key, required, func(key string) (e error) { *field, e = m.Info.MetaFloat(key); return e })
}

// GGUFRopeScaling returns the rotary scaling a GGUF file's metadata
// declares for architecture arch (arch.rope.scaling.type and .factor, or an
// older file's arch.rope.scale_linear): nil for none, linear scaling
// otherwise; any other type is an error naming the key.
func GGUFRopeScaling(info *weights.GGUFInfo, arch string) (*RopeScaling, error) {
	var scaling string
	var factor float64
	m := &GGUFMeta{Info: info}
	m.Read(arch+".rope.scaling.type", false, func(key string) (e error) { scaling, e = info.MetaString(key); return e })
	m.Float(arch+".rope.scaling.factor", &factor, false)
	if _, ok := info.Meta(arch + ".rope.scale_linear"); ok { // older files
		scaling = "linear"
		m.Float(arch+".rope.scale_linear", &factor, true)
	}
	if m.Err != nil {
		return nil, m.Err
	}
	switch scaling {
	case "", "none":
		return nil, nil
	case "linear":
		if !(factor > 0) {
			return nil, fmt.Errorf("%s: metadata key \"%s.rope.scaling.factor\" is %v; linear rope scaling needs a positive factor", info.Path, arch, factor)
		}
		if factor == 1 {
			return nil, nil
		}
		return &RopeScaling{RopeType: "linear", Factor: factor}, nil
	}
	return nil, fmt.Errorf("%s: metadata key \"%s.rope.scaling.type\" is %q; only linear rope scaling is supported", info.Path, arch, scaling)
}

// GGUFNames maps Hugging Face weight names to llama.cpp's: Global for the
// weights outside the layers, Layer for those inside layer N
// ("model.layers.N." in Hugging Face, "blk.N." in GGUF).
type GGUFNames struct {
	Global, Layer map[string]string
}

// Name returns the GGUF name of the Hugging Face weight name (a name
// neither map knows comes back as "blk.N.", which no file holds).
func (n GGUFNames) Name(name string) string {
	if g, ok := n.Global[name]; ok {
		return g
	}
	rest, _ := strings.CutPrefix(name, "model.layers.")
	layer, suffix, _ := strings.Cut(rest, ".")
	return "blk." + layer + "." + n.Layer[suffix]
}

// GGUFLayout says how a family's weights sit in a GGUF file.
type GGUFLayout struct {
	GGUFNames
	// Fix, when set, returns how a weight's values as read from the file
	// become Hugging Face's (rows llama.cpp permuted, norms it offset), or
	// nil when they are the same.
	Fix func(s Spec) func(values []float32) []float32
	// BlockCount is the metadata key of the number of layers, Blocks its
	// value, named when the file holds tensors the network does not use.
	BlockCount string
	Blocks     int
	// Own are tensors of the file the family reads itself, outside the
	// network's weights (Phi-3's rope factors): the file may hold them.
	Own []string
	// Options say whether block-quantized tensors are kept as codes
	// (the default) or dequantized at load (DType "float32").
	Options LoadOptions
}

// LoadOptions are how a model's weights are loaded, as Hugging Face's
// from_pretrained(torch_dtype=...) says it.
type LoadOptions struct {
	// DType is the precision the weights are held in: "" (or "auto")
	// keeps a GGUF file's 2-D tensors of the block types Q8_0, Q4_0,
	// Q4_1, Q5_0, Q4_K and Q6_K as their codes and scales (about the
	// file's size; see weights.Blocks), dequantized inside every graph to
	// the same float32 values; "float32" dequantizes every tensor at load.
	DType string
}

// Check validates o.
func (o LoadOptions) Check() error {
	switch o.DType {
	case "", "auto", "float32":
		return nil
	}
	return fmt.Errorf("dtype %q: want auto or float32", o.DType)
}

// keepsBlocks reports whether o keeps block-quantized tensors as codes.
func (o LoadOptions) keepsBlocks() bool { return o.DType != "float32" }

// FirstOptions returns the one LoadOptions of a variadic argument (the zero
// value for none), checked.
func FirstOptions(opts []LoadOptions) (LoadOptions, error) {
	if len(opts) == 0 {
		return LoadOptions{}, nil
	}
	if len(opts) > 1 {
		return LoadOptions{}, fmt.Errorf("%d sets of load options; give one", len(opts))
	}
	return opts[0], opts[0].Check()
}

// Weights returns the weights sp declares, read from the GGUF file's
// tensors set (ReadGGUF's, dequantized to float32) under Hugging Face's
// names, each changed by Fix and checked finite. The file must hold every
// tensor the network uses and no other, as llama.cpp insists, so that a
// block count that leaves blocks out, or another architecture's tensors,
// is an error naming them; this is checked before any tensor is read.
func (l GGUFLayout) Weights(set *weights.Set, info *weights.GGUFInfo, sp []Spec) (*weights.Set, error) {
	if err := l.unused(info, sp); err != nil {
		return nil, err
	}
	hf := weights.NewSet()
	hf.Source = info.Path
	for _, s := range sp {
		name := l.Name(s.Name)
		kept, err := l.keep(info, s, name)
		if err != nil {
			return nil, err
		}
		if kept != nil {
			hf.AddBlocks(s.Name, kept, info.Path)
			continue
		}
		var t *tensors.Tensor
		if fix := l.fix(s); fix != nil {
			values, err := set.Float32Values(name, s.Dims...)
			if err != nil {
				return nil, err
			}
			t = tensors.FromFlatDataAndDimensions(fix(values), s.Dims...)
		} else {
			var err error
			if t, err = set.Float32(name, s.Dims...); err != nil {
				return nil, err
			}
		}
		// The family's New checks again, under the Hugging Face name; this
		// names the tensor as the file does.
		var nonFinite error
		if err := t.ConstFlatData(func(flat any) { nonFinite = weights.CheckFinite(flat.([]float32)) }); err != nil || nonFinite != nil {
			return nil, fmt.Errorf("%s: %w", set.Where(name), cmp.Or(err, nonFinite))
		}
		hf.Add(s.Name, t, info.Path)
	}
	return hf, nil
}

// keep returns tensor name, of the file, as weight s kept as codes when
// the options keep it so, else nil. A Fix that is not a permutation of
// whole rows (a norm's offset) leaves the tensor to be read as float32.
func (l GGUFLayout) keep(info *weights.GGUFInfo, s Spec, name string) (*weights.KeptTensor, error) {
	ti, ok := info.Tensor(name)
	if !l.Options.keepsBlocks() || !ok || !weights.KeepsBlocks(ti.Type) || len(s.Dims) != 2 || len(ti.Dims) != 2 {
		return nil, nil
	}
	var from []int
	if fix := l.fix(s); fix != nil {
		if from = rowPermutation(fix, ti.Dims[0], ti.Dims[1]); from == nil {
			return nil, nil
		}
	}
	read := func(alloc weights.Alloc) (*weights.Blocks, error) {
		b, err := info.ReadBlocks(name, alloc)
		if err != nil || from == nil {
			return b, err
		}
		if err := b.PermuteRows(from); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", info.Path, name, err)
		}
		return b, nil
	}
	return &weights.KeptTensor{Type: ti.Type, Rows: ti.Dims[0], Cols: ti.Dims[1], Read: read}, nil
}

// rowPermutation returns, for each row of fix's result, the row of its
// input it holds, or nil when fix does more than move whole rows.
func rowPermutation(fix func([]float32) []float32, rows, cols int) []int {
	index := make([]float32, rows*cols)
	for i := range index {
		index[i] = float32(i / cols)
	}
	out := fix(index)
	if len(out) != rows*cols || rows > 1<<24 {
		return nil
	}
	from, seen := make([]int, rows), make([]bool, rows)
	for r := range rows {
		src := out[r*cols]
		i := int(src)
		if float32(i) != src || i < 0 || i >= rows || seen[i] {
			return nil
		}
		for _, v := range out[r*cols : (r+1)*cols] {
			if v != src {
				return nil
			}
		}
		from[r], seen[i] = i, true
	}
	return from
}

// fix returns Fix(s), nil when there is no Fix.
func (l GGUFLayout) fix(s Spec) func([]float32) []float32 {
	if l.Fix == nil {
		return nil
	}
	return l.Fix(s)
}

// unused returns an error naming the tensors of the file that the network
// sp describes does not use: blocks past the block count, or tensors of
// another layout (experts, another architecture's names).
func (l GGUFLayout) unused(info *weights.GGUFInfo, sp []Spec) error {
	used := make(map[string]bool, len(sp)+len(l.Own))
	for _, s := range sp {
		used[l.Name(s.Name)] = true
	}
	for _, name := range l.Own {
		used[name] = true
	}
	var unused []string
	for _, t := range info.Tensors {
		if !used[t.Name] {
			unused = append(unused, t.Name)
		}
	}
	if len(unused) == 0 {
		return nil
	}
	slices.Sort(unused)
	shown := unused[:min(len(unused), 5)]
	return fmt.Errorf("%s: %d tensors the config does not use, among them %q (%s is %d: a file with more blocks than it says, or another layout's tensors?)",
		info.Path, len(unused), shown, l.BlockCount, l.Blocks)
}
