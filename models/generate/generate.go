// Package generate produces text from a causal language model, token by
// token over the model's KV cache: greedy decoding, or sampling with a
// temperature, top-k and top-p (nucleus) filtering and a seed (the same seed
// gives the same tokens).
package generate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models"
)

// Options controls generation.
type Options struct {
	// MaxNewTokens is the most tokens generated after the prompt.
	MaxNewTokens int
	// Temperature divides the logits before sampling; 0 means greedy (argmax).
	Temperature float64
	// TopK keeps only the K most likely tokens (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches P (0 or 1: all).
	TopP float64
	// Seed seeds the sampler.
	Seed uint64
	// StopIDs end generation when produced; the stop token is not returned.
	StopIDs []int32
	// OnToken, when set, is called with each new token as it is generated;
	// returning false stops generation.
	OnToken func(id int32) bool
}

// Generate continues prompt with up to opts.MaxNewTokens tokens from lm and
// returns the new tokens. The prompt runs through the model once, then each
// new token is one cached step.
func Generate(lm models.CausalLM, prompt []int32, opts Options) ([]int32, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: empty prompt")
	}
	if opts.MaxNewTokens <= 0 {
		return nil, nil
	}
	if opts.Temperature < 0 || opts.TopK < 0 || opts.TopP < 0 || opts.TopP > 1 {
		return nil, fmt.Errorf("generate: temperature %v, top-k %d, top-p %v out of range", opts.Temperature, opts.TopK, opts.TopP)
	}
	total := len(prompt) + opts.MaxNewTokens
	if limit := lm.ContextLength(); limit > 0 && total > limit {
		if len(prompt) >= limit {
			return nil, fmt.Errorf("generate: prompt of %d tokens does not fit the model's context of %d", len(prompt), limit)
		}
		total = limit
	}
	cache, err := lm.NewCache(1, total)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x7f4a7c15))
	logits, err := lm.Step(cache, [][]int32{prompt}, nil)
	if err != nil {
		return nil, err
	}
	var out []int32
	for len(prompt)+len(out) < total {
		last, err := lastRow(logits)
		if err != nil {
			return nil, err
		}
		next := Sample(last, opts.Temperature, opts.TopK, opts.TopP, rng)
		for _, s := range opts.StopIDs {
			if next == s {
				return out, nil
			}
		}
		out = append(out, next)
		if opts.OnToken != nil && !opts.OnToken(next) {
			return out, nil
		}
		if len(prompt)+len(out) == total {
			break
		}
		if logits, err = lm.Step(cache, [][]int32{{next}}, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lastRow returns the logits of the last position of the first row of [B, T, V].
func lastRow(logits *tensors.Tensor) ([]float32, error) {
	dims := logits.Shape().Dimensions
	flat, err := tensors.CopyFlatData[float32](logits)
	if err != nil {
		return nil, err
	}
	v := dims[2]
	start := (dims[1] - 1) * v
	return flat[start : start+v], nil
}

// Sample picks a token from logits: the argmax when temperature is 0, else a
// draw from softmax(logits/temperature) restricted to the top-k tokens and
// to the top-p probability mass. Ties in greedy decoding go to the lowest id.
func Sample(logits []float32, temperature float64, topK int, topP float64, rng *rand.Rand) int32 {
	if temperature == 0 {
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if topK > 0 && topK < len(idx) {
		idx = idx[:topK]
	}
	maxL := float64(logits[idx[0]])
	probs := make([]float64, len(idx))
	sum := 0.0
	for i, id := range idx {
		probs[i] = math.Exp((float64(logits[id]) - maxL) / temperature)
		sum += probs[i]
	}
	for i := range probs {
		probs[i] /= sum
	}
	if topP > 0 && topP < 1 {
		acc := 0.0
		for i, p := range probs {
			acc += p
			if acc >= topP {
				idx, probs = idx[:i+1], probs[:i+1]
				sum = acc
				for j := range probs {
					probs[j] /= sum
				}
				break
			}
		}
	}
	r := rng.Float64()
	for i, p := range probs {
		r -= p
		if r < 0 {
			return int32(idx[i])
		}
	}
	return int32(idx[len(idx)-1])
}
