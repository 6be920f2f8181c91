package mixtral

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// The two layouts of a layer's experts. The network uses transformers 5's,
// in which each layer's experts are stacked and their gate and up
// projections fused: mlp.gate.weight [E, D], mlp.experts.gate_up_proj
// [E, 2I, D] (gate rows, then up rows) and mlp.experts.down_proj [E, D, I].
// Published checkpoints, and transformers 5.23's save_pretrained, which
// converts back, keep one Linear per expert and projection:
// block_sparse_moe.gate.weight and block_sparse_moe.experts.N.{w1 (gate),
// w3 (up), w2 (down)}.weight; transformers' conversion mapping stacks them
// (MergeModulelist, then Concatenate of w1 and w3), and also reads them
// under mlp. rather than block_sparse_moe.
const (
	legacyModule = "block_sparse_moe"
	fusedModule  = "mlp"
)

// fuseExperts rewrites, in set, each layer of cfg whose experts are stored
// one Linear per expert into the fused layout: the router is renamed and
// the stacked tensors are computed from the pieces when the loader reads
// them, one layer's at a time. It returns the pieces, which the loader
// must then leave unread. A layer holding both layouts is an error.
func fuseExperts(set *weights.Set, cfg *Config) (pieces map[string]bool, err error) {
	pieces = map[string]bool{}
	e, i, d := cfg.NumLocalExperts, cfg.IntermediateSize, cfg.HiddenSize
	for layer := range cfg.NumHiddenLayers {
		fused := fmt.Sprintf("model.layers.%d.%s.", layer, fusedModule)
		for _, module := range []string{legacyModule, fusedModule} {
			at := fmt.Sprintf("model.layers.%d.%s.", layer, module)
			if !set.Has(at + "experts.0.w1.weight") {
				continue
			}
			if set.Has(fused + "experts.gate_up_proj") {
				return nil, fmt.Errorf("%s: layer %d holds its experts twice: %q and %q", set.Source, layer, at+"experts.0.w1.weight", fused+"experts.gate_up_proj")
			}
			if module == legacyModule {
				set.Rename(at+"gate.weight", fused+"gate.weight")
			}
			stack := func(parts []string, rows int) func() (*tensors.Tensor, error) {
				return func() (*tensors.Tensor, error) { return stackExperts(set, at, parts, e, rows, d) }
			}
			set.AddComputed(fused+"experts.gate_up_proj", shapes.Make(dtypes.Float32, e, 2*i, d), set.File(at+"experts.0.w1.weight"), stack([]string{"w1", "w3"}, i))
			set.AddComputed(fused+"experts.down_proj", shapes.Make(dtypes.Float32, e, d, i), set.File(at+"experts.0.w2.weight"), func() (*tensors.Tensor, error) {
				return stackExperts(set, at, []string{"w2"}, e, d, i)
			})
			for n := range e {
				for _, w := range []string{"w1", "w2", "w3"} {
					pieces[fmt.Sprintf("%sexperts.%d.%s.weight", at, n, w)] = true
				}
			}
		}
	}
	return pieces, nil
}

// stackExperts reads, for each of e experts, the tensors at
// "<at>experts.N.<part>.weight" ([rows, cols] each, in the order of parts)
// and returns them stacked: [e, len(parts)·rows, cols].
func stackExperts(set *weights.Set, at string, parts []string, e, rows, cols int) (*tensors.Tensor, error) {
	out := make([]float32, 0, e*len(parts)*rows*cols)
	for n := range e {
		for _, p := range parts {
			v, err := set.Float32Values(fmt.Sprintf("%sexperts.%d.%s.weight", at, n, p), rows, cols)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
	}
	return tensors.FromFlatDataAndDimensions(out, e, len(parts)*rows, cols), nil
}

// isRotaryBuffer reports a checkpoint's rotary frequencies, which are
// recomputed.
func isRotaryBuffer(name string) bool { return strings.HasSuffix(name, "rotary_emb.inv_freq") }

// Save writes config.json and model.safetensors to dir in the layout
// transformers 5.23's save_pretrained writes, one Linear per expert (see
// fuseExperts), which every version of transformers reads.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	if err := splitExperts(set, m.Config); err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// splitExperts rewrites the fused experts of set into one Linear per
// expert and projection under block_sparse_moe.
func splitExperts(set *weights.Set, cfg *Config) error {
	e, i, d := cfg.NumLocalExperts, cfg.IntermediateSize, cfg.HiddenSize
	for layer := range cfg.NumHiddenLayers {
		fused := fmt.Sprintf("model.layers.%d.%s.", layer, fusedModule)
		at := fmt.Sprintf("model.layers.%d.%s.", layer, legacyModule)
		set.Rename(fused+"gate.weight", at+"gate.weight")
		for _, w := range []struct {
			name  string
			parts []string
			rows  int
			cols  int
		}{{"gate_up_proj", []string{"w1", "w3"}, i, d}, {"down_proj", []string{"w2"}, d, i}} {
			stacked, err := set.Float32Values(fused+"experts."+w.name, e, len(w.parts)*w.rows, w.cols)
			if err != nil {
				return err
			}
			size := w.rows * w.cols
			for n := range e {
				for j, p := range w.parts {
					from := (n*len(w.parts) + j) * size
					piece := append([]float32(nil), stacked[from:from+size]...)
					set.Add(fmt.Sprintf("%sexperts.%d.%s.weight", at, n, p), tensors.FromFlatDataAndDimensions(piece, w.rows, w.cols), "")
				}
			}
			set.Delete(fused + "experts." + w.name)
		}
	}
	return nil
}
