package modeling

import (
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"
)

// Output is the result of a forward pass. Tensors may live on the backend's
// device; reading them (Value, ConstFlatData) brings them to the host.
type Output struct {
	// Logits are [B, T, vocab] for language models (head-specific otherwise).
	Logits       *tensors.Tensor
	HiddenStates []*tensors.Tensor
	Attentions   []*tensors.Tensor
	// RouterLogits are a mixture of experts' router logits
	// [sparse layers, B, T, experts] (ForwardOptions.RouterLogits).
	RouterLogits *tensors.Tensor
	// Cache holds the activations ForwardOptions.Hooks asked for, by hook
	// point name.
	Cache map[string]*tensors.Tensor
}

// AttentionWeights returns the attention probabilities of batch row row
// as plain slices, [layer][head][query][key] (each query's row sums to 1
// over the keys it may see), which is what viz.Attention and
// viz.AttentionGrid draw. The forward pass must have been asked for them
// (ForwardOptions.Attentions).
func (o *Output) AttentionWeights(row int) ([][][][]float32, error) {
	if len(o.Attentions) == 0 {
		return nil, fmt.Errorf("attention weights: the forward pass returned none (set ForwardOptions.Attentions)")
	}
	out := make([][][][]float32, len(o.Attentions))
	for l, t := range o.Attentions {
		if t == nil {
			return nil, fmt.Errorf("attention weights: layer %d: nil tensor", l)
		}
		dims := t.Shape().Dimensions
		if len(dims) != 4 || dims[2] != dims[3] {
			return nil, fmt.Errorf("attention weights: layer %d: shape %s, want [batch, heads, tokens, tokens]", l, t.Shape())
		}
		if row < 0 || row >= dims[0] {
			return nil, fmt.Errorf("attention weights: layer %d: batch row %d out of range [0, %d)", l, row, dims[0])
		}
		flat, err := float32s(t)
		if err != nil {
			return nil, fmt.Errorf("attention weights: layer %d: %w", l, err)
		}
		heads, n := dims[1], dims[2]
		out[l] = make([][][]float32, heads)
		for h := range heads {
			base := (row*heads + h) * n * n
			out[l][h] = make([][]float32, n)
			for q := range n {
				out[l][h][q] = flat[base+q*n : base+(q+1)*n]
			}
		}
	}
	return out, nil
}

// float32s returns a copy of t's values as float32 (float32 and float64
// tensors only).
func float32s(t *tensors.Tensor) ([]float32, error) {
	var out []float32
	var err error
	t.MustConstFlatData(func(flat any) {
		switch v := flat.(type) {
		case []float32:
			out = append([]float32(nil), v...)
		case []float64:
			out = make([]float32, len(v))
			for i, x := range v {
				out[i] = float32(x)
			}
		default:
			err = fmt.Errorf("dtype %s, want float32 or float64", t.DType())
		}
	})
	return out, err
}
