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
