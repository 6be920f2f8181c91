// Package modeling holds what the model families share: their weights as
// GoMLX variables named as the checkpoint names them (Params), the building
// blocks of transformer networks (norms, projections, attention with padding
// masks, sliding windows and grouped-query heads, rotary embeddings), the
// shared forward and KV-cache plumbing of decoder-only families (Decoder),
// and the inputs and outputs of a forward pass.
//
// A family's network file calls these blocks explicitly, so it reads like
// Hugging Face's modeling file for that family; cache strategies reach the
// network only through the AttendFunc it is handed.
package modeling

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Params are a model's weights as variables of a GoMLX model.Store, one per
// checkpoint tensor and under the checkpoint's name ("h.0.attn.c_attn.weight"
// is the variable /h/0/attn/c_attn/weight). Variables stay graph parameters,
// never constants, so one compiled graph serves any weights and trainers can
// update them.
type Params struct {
	Store *model.Store
	vars  map[string]*model.Variable
	// transposed names the 2-D weights kept as the transpose of their
	// checkpoint layout (see Spec.Transpose); Weights transposes them back.
	transposed map[string]bool
	// transforms replace a weight's node in every graph, applied in the
	// order they were set (see SetTransform).
	transforms map[string][]Transform
	// dims are the shapes the network sees where a transform changes the
	// stored one (see SetDims).
	dims map[string][]int
	// modelPrefix is what Hugging Face's language-model class puts before
	// these names (see ModelPrefix).
	modelPrefix string
	// generation counts changes to which weights exist and how the network
	// sees them (see Generation).
	generation uint64
	// blocks holds the weights SplitRows laid out in blocks of rows, in
	// order, in place of their entry in vars.
	blocks map[string][]*model.Variable
	// roles are the weights' roles as their family declared them (Spec.Role).
	roles map[string]Role
	// follows maps the Store path of a variable laid out for a weight (an
	// optimizer moment, a gradient) to that weight and the part it holds
	// (see Follow).
	follows map[string]followed
	// sharding is how the variables are laid out (nil: one device).
	sharding *Sharding
	// rng is the random stream dropout draws from (see SeedDropout).
	rng *model.Variable
	// kept are the weights held as low-bit codes (SetBlocks), by name.
	kept map[string]keptWeight
}

// Transform computes the weight a network uses from the stored one (or from
// what the transform set before it gives), inside a graph. LoRA adapters (the stored weight plus a low-rank update) and
// quantized weights (dequantization) wrap a family's layers this way, from
// outside the family's network file.
type Transform func(g *graph.Graph, stored *graph.Node) *graph.Node

// NewParams returns empty Params with a fresh Store.
func NewParams() *Params {
	return &Params{Store: model.NewStore(), vars: map[string]*model.Variable{}, transposed: map[string]bool{},
		transforms: map[string][]Transform{}, dims: map[string][]int{}, blocks: map[string][]*model.Variable{},
		roles: map[string]Role{}, follows: map[string]followed{}, kept: map[string]keptWeight{}}

}

// VariablePath returns the Store path of the variable holding tensor name.
func VariablePath(name string) string {
	return "/" + strings.ReplaceAll(name, ".", "/")
}

// Set stores t as the weight name.
func (p *Params) Set(name string, t *tensors.Tensor) error {
	if _, ok := p.blocks[name]; ok {
		if err := p.join(name); err != nil {
			return err
		}
	}
	if old, ok := p.vars[name]; ok {
		return old.SetValue(t)
	}
	v, err := p.Store.CreateVariable(VariablePath(name), t)
	if err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	p.vars[name] = v
	p.generation++
	return nil
}

// Delete removes weight name, with its transforms, from Params and its
// Store. Quantization uses it to replace a float weight by integer codes
// of another dtype under the same name. Graphs already compiled keep what
// they were built with.
func (p *Params) Delete(name string) error {
	if _, ok := p.blocks[name]; ok {
		if err := p.join(name); err != nil {
			return err
		}
	}
	if _, ok := p.vars[name]; !ok {
		return fmt.Errorf("modeling: no weight %q to delete", name)
	}
	if err := p.Store.DeleteVariable(VariablePath(name)); err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	delete(p.vars, name)
	delete(p.transposed, name)
	delete(p.transforms, name)
	delete(p.dims, name)
	delete(p.kept, name)
	p.generation++
	return nil
}

// Generation counts the changes that invalidate compiled graphs: a weight
// added or deleted, a transform set or removed. Models cache their compiled
// graphs and rebuild them when it moves, so quantizing or adding adapters
// to a model already used takes effect in its next call. (Changing a
// weight's value is not such a change: graphs read weights as parameters.)
func (p *Params) Generation() uint64 { return p.generation }

// Dims returns the dimensions of weight name as the network sees it: those
// SetDims recorded, else the stored variable's.
func (p *Params) Dims(name string) []int {
	if d, ok := p.dims[name]; ok {
		return d
	}
	if v, ok := p.vars[name]; ok {
		return v.Shape().Dimensions
	}
	if blocks, ok := p.blocks[name]; ok {
		rows := 0
		for _, b := range blocks {
			rows += b.Shape().Dimensions[0]
		}
		return []int{rows, blocks[0].Shape().Dimensions[1]}
	}
	return nil
}

// SetDims records the dimensions weight name has after its transforms when
// they differ from the stored ones (4-bit quantization packs two codes per
// byte, so a [768, 768] weight is stored as [768, 384]).
func (p *Params) SetDims(name string, dims ...int) { p.dims[name] = dims }

// Transposed reports whether weight name is kept as the transpose of its
// checkpoint layout (see Spec.Transpose): its stored shape is then
// [out, in] where the checkpoint has [in, out].
func (p *Params) Transposed(name string) bool { return p.transposed[name] }

// ModelPrefix returns what Hugging Face's language-model class puts before
// the weight names these Params use, where the family declared one
// (SetModelPrefix): GPT2LMHeadModel nests GPT2Model's weights under
// "transformer.", while LLaMA's Params already use LlamaForCausalLM's
// names. Files written for the language-model class (PEFT adapters) name
// weights with it.
func (p *Params) ModelPrefix() string { return p.modelPrefix }

// SetModelPrefix records the family's ModelPrefix.
func (p *Params) SetModelPrefix(prefix string) { p.modelPrefix = prefix }

// Has reports whether weight name exists.
func (p *Params) Has(name string) bool {
	_, ok := p.vars[name]
	_, split := p.blocks[name]
	return ok || split
}

// Variable returns the variable holding weight name, or nil. A weight laid
// out in blocks of rows (SplitRows) is joined back into one variable first
// (nil if that fails).
func (p *Params) Variable(name string) *model.Variable {
	if _, ok := p.blocks[name]; ok {
		if err := p.join(name); err != nil {
			return nil
		}
	}
	return p.vars[name]
}

// Names returns the weight names, sorted.
func (p *Params) Names() []string {
	names := make([]string, 0, len(p.vars)+len(p.blocks))
	for n := range p.vars {
		names = append(names, n)
	}
	for n := range p.blocks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Node returns weight name as the network uses it in graph g: the stored
// weight, passed through its Transform when one is set. It panics (inside
// graph building, where GoMLX reports panics as errors) when the weight is
// missing; families check their weights when loading, so this means a bug.
func (p *Params) Node(g *graph.Graph, name string) *graph.Node {
	w := p.Raw(g, name)
	for _, t := range p.transforms[name] {
		w = t(g, w)
	}
	return w
}

// Raw returns the stored weight name in graph g, without its Transform
// (trainers differentiate with respect to these); a weight laid out in
// blocks of rows (SplitRows) is their concatenation.
func (p *Params) Raw(g *graph.Graph, name string) *graph.Node {
	if blocks, ok := p.blocks[name]; ok {
		nodes := make([]*graph.Node, len(blocks))
		for i, b := range blocks {
			nodes[i] = b.NodeValue(g)
		}
		return graph.Concatenate(nodes, 0)
	}
	v, ok := p.vars[name]
	if !ok {
		panic(fmt.Sprintf("modeling: weight %q not loaded", name))
	}
	return v.NodeValue(g)
}

// SetTransform makes every graph built from now on use fn(w) in place of
// weight name, where w is the stored weight passed through the transforms
// set before (quantization dequantizes, then LoRA adds its update); a nil fn
// removes the last transform set. Models rebuild their compiled graphs on
// their next call (see Generation); an Exec built directly with NewExec
// keeps what it was built with.
func (p *Params) SetTransform(name string, fn Transform) error {
	if !p.Has(name) {
		return fmt.Errorf("modeling: no weight %q to transform", name)
	}
	ts := p.transforms[name]
	p.generation++
	if fn == nil {
		if len(ts) > 0 {
			p.transforms[name] = ts[:len(ts)-1]
		}
		return nil
	}
	p.transforms[name] = append(ts, fn)
	return nil
}

// Weights returns the weights as a weights.Set under their checkpoint names,
// for saving as safetensors. A weight kept as low-bit codes (SetBlocks)
// comes back as the float32 values it stands for.
func (p *Params) Weights() (*weights.Set, error) {
	set := weights.NewSet()
	for _, name := range p.Names() {
		if owner, ok := p.keptPart(name); ok {
			if owner == name {
				t, err := p.dequantizeKept(name)
				if err != nil {
					return nil, fmt.Errorf("weight %q: %w", name, err)
				}
				set.Add(name, t, "")
			}
			continue
		}
		var t *tensors.Tensor
		var err error
		if _, ok := p.blocks[name]; ok {
			t, err = p.joined(name)
		} else {
			t, err = p.vars[name].Value()
		}
		if err != nil {
			return nil, fmt.Errorf("weight %q: %w", name, err)
		}
		if p.transposed[name] {
			if t, err = Transpose2D(t); err != nil {
				return nil, fmt.Errorf("weight %q: %w", name, err)
			}
		}
		set.Add(name, t, "")
	}
	return set, nil
}

// ModuleMatches reports whether module ("h.0.attn.c_attn") is named by
// target: the whole name or its trailing dotted parts ("c_attn",
// "attn.c_attn"), PEFT's rule for target_modules, which LoRA and
// quantization both use to pick layers.
func ModuleMatches(module, target string) bool {
	return module == target || strings.HasSuffix(module, "."+target)
}
