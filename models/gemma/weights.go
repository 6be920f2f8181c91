package gemma

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// specs lists every weight of the network, as the network declares them:
// Hugging Face's Gemma{2,3}ForCausalLM names, shapes (nn.Linear weights are
// [out, in]) and roles.
func (m *Model) specs() ([]modeling.Spec, error) {
	sp, err := modeling.DeclareDecoder(m.graph)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Config.ModelType, err)
	}
	return sp, nil
}

// NewRandom returns a model with cfg's shape and freshly initialized weights
// as Hugging Face initializes Gemma (normal with initializer_range, 0.02 by
// default; RMSNorm weights 0, which scale by 1 + 0), for training from
// scratch and benchmarks.
func NewRandom(cfg *Config, seed uint64, backend compute.Backend) (*Model, error) {
	m, err := declared(cfg)
	if err != nil {
		return nil, err
	}
	sp, err := m.specs()
	if err != nil {
		return nil, err
	}
	set := modeling.RandomWeights(sp, seed, cfg.InitializerRange)
	for _, s := range sp {
		if strings.HasSuffix(s.Name, "norm.weight") {
			set.Add(s.Name, tensors.FromFlatDataAndDimensions(make([]float32, s.Dims[0]), s.Dims...), "")
		}
	}
	return New(cfg, set, backend)
}
