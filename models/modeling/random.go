package modeling

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/weights"
)

// RandomWeights returns weights for specs initialized as Hugging Face
// initializes a new model: normalization weights 1, biases 0, and every other
// tensor drawn from a normal distribution with standard deviation std
// (a config's initializer_range; 0 means Hugging Face's default, 0.02). The
// same seed gives the same weights.
func RandomWeights(specs []Spec, seed uint64, std float64) *weights.Set {
	if std <= 0 {
		std = 0.02
	}
	rng := rand.New(rand.NewPCG(seed, 0xda942042e4dd58b5))
	set := weights.NewSet()
	set.Source = fmt.Sprintf("random weights (seed %d)", seed)
	for _, s := range specs {
		n := 1
		for _, d := range s.Dims {
			n *= d
		}
		data := make([]float32, n)
		module := strings.TrimSuffix(s.Name, ".weight")
		module = module[strings.LastIndex(module, ".")+1:]
		switch {
		case strings.HasSuffix(s.Name, ".bias"):
		case len(s.Dims) == 1 && isNorm(module):
			for i := range data {
				data[i] = 1
			}
		default:
			for i := range data {
				data[i] = float32(rng.NormFloat64() * std)
			}
		}
		set.Add(s.Name, tensors.FromFlatDataAndDimensions(data, s.Dims...), "")
	}
	return set
}

// isNorm reports whether a module name ("ln_1", "input_layernorm",
// "LayerNorm", "norm") is a normalization layer.
func isNorm(module string) bool {
	m := strings.ToLower(module)
	return strings.Contains(m, "norm") || strings.HasPrefix(m, "ln_") || m == "ln_f"
}
