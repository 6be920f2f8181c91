package mamba

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// specs lists every weight of the network, as the network declares them:
// Hugging Face's MambaForCausalLM names, shapes (nn.Linear weights are
// [out, in], conv1d.weight [inner, 1, conv_kernel]) and roles.
func (m *Model) specs() ([]modeling.Spec, error) {
	sp, err := modeling.DeclareRecurrent(m.graph, m.shape())
	if err != nil {
		return nil, fmt.Errorf("mamba: %w", err)
	}
	return sp, nil
}

// oldEmbedding is the embedding's name in checkpoints saved before
// transformers renamed it (MambaModel.load_hook reads either).
const oldEmbedding = "backbone.embedding.weight"

// checkpoint says how the network's weights are found in set: the
// embedding under its old name when set has that one, and a tied head's
// lm_head.weight (the embedding again) not read.
func checkpoint(cfg *Config, set *weights.Set) modeling.Checkpoint {
	ck := modeling.Checkpoint{Decoding: true, Unread: func(n string) bool {
		return n == "lm_head.weight" && cfg.TieWordEmbeddings()
	}}
	if set.Has(oldEmbedding) {
		ck.Name = func(n string) string { return strings.Replace(n, "backbone.embeddings.", "backbone.embedding.", 1) }
	}
	return ck
}

// NewRandom returns a model with cfg's shape and freshly initialized
// weights, as MambaPreTrainedModel._init_weights draws them where it
// matters for a working model: A_log = log(1..state_size) per channel,
// D = 1, dt_proj's bias the inverse softplus of time steps spread
// log-uniformly over [time_step_min, time_step_max], norms 1, biases 0, the
// rest normal with initializer_range.
func NewRandom(cfg *Config, seed uint64, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg}
	sp, err := m.specs()
	if err != nil {
		return nil, err
	}
	std := cfg.InitializerRange
	if std == 0 {
		std = 0.1 // MambaConfig's default
	}
	set := modeling.RandomWeights(sp, seed, std)
	initMixers(cfg, set, seed)
	return New(cfg, set, backend)
}

// initMixers gives every layer's mixer the state-space initialization of
// MambaMixer.init_mamba_weights (S4D-real A, unit D, time steps spread
// log-uniformly), drawn from seed.
func initMixers(cfg *Config, set *weights.Set, seed uint64) {
	inner, n := cfg.Inner(), cfg.StateSize
	lo, hi, floor := cfg.TimeStepMin, cfg.TimeStepMax, cfg.TimeStepFloor
	if lo == 0 {
		lo = 0.001
	}
	if hi == 0 {
		hi = 0.1
	}
	if floor == 0 {
		floor = 1e-4
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d616d6261))
	for i := range cfg.NumHiddenLayers {
		aLog, d, bias := make([]float32, inner*n), make([]float32, inner), make([]float32, inner)
		for ch := range inner {
			for k := range n {
				aLog[ch*n+k] = float32(math.Log(float64(k + 1)))
			}
			d[ch] = 1
			dt := max(math.Exp(rng.Float64()*(math.Log(hi)-math.Log(lo))+math.Log(lo)), floor)
			bias[ch] = float32(dt + math.Log(-math.Expm1(-dt))) // softplus⁻¹(dt)
		}
		p := fmt.Sprintf("backbone.layers.%d.mixer.", i)
		set.Add(p+"A_log", tensors.FromFlatDataAndDimensions(aLog, inner, n), "")
		set.Add(p+"D", tensors.FromFlatDataAndDimensions(d, inner), "")
		set.Add(p+"dt_proj.bias", tensors.FromFlatDataAndDimensions(bias, inner), "")
	}
}
