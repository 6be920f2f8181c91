package modeling

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
)

// RopeScaling mirrors the "rope_scaling" entry of a LLaMA-family config.json.
// Supported types: "llama3" (Llama 3.1's smooth frequency interpolation) and
// "linear" (positions divided by factor).
type RopeScaling struct {
	RopeType                      string  `json:"rope_type,omitempty"`
	Type                          string  `json:"type,omitempty"` // older configs name the type here
	Factor                        float64 `json:"factor,omitempty"`
	LowFreqFactor                 float64 `json:"low_freq_factor,omitempty"`
	HighFreqFactor                float64 `json:"high_freq_factor,omitempty"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty"`
}

// Kind returns the scaling type, from rope_type or the older type field.
func (r *RopeScaling) Kind() string {
	if r == nil {
		return "default"
	}
	if r.RopeType != "" {
		return r.RopeType
	}
	if r.Type != "" {
		return r.Type
	}
	return "default"
}

// RotaryInvFreq returns the inverse frequencies of the rotary embedding,
// 1/theta^(2i/d) for i < d/2, adjusted by scaling.
func RotaryInvFreq(headDim int, theta float64, scaling *RopeScaling) ([]float64, error) {
	if headDim%2 != 0 {
		return nil, fmt.Errorf("rotary embedding: head dimension %d is odd", headDim)
	}
	inv := make([]float64, headDim/2)
	for i := range inv {
		// Hugging Face computes these in float32; so do we, to match it.
		inv[i] = float64(float32(1 / math.Pow(theta, float64(float32(2*i)/float32(headDim)))))
	}
	switch kind := scaling.Kind(); kind {
	case "default":
	case "linear":
		if !positiveFinite(scaling.Factor) {
			return nil, fmt.Errorf("rope_scaling: linear: field \"factor\" must be positive, got %v", scaling.Factor)
		}
		for i := range inv {
			inv[i] /= scaling.Factor
		}
	case "llama3":
		s := scaling
		if !positiveFinite(s.Factor) || !positiveFinite(s.LowFreqFactor) || !positiveFinite(s.HighFreqFactor) ||
			s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositionEmbeddings <= 0 {
			return nil, fmt.Errorf("rope_scaling: llama3 needs positive \"factor\", \"low_freq_factor\" < \"high_freq_factor\" and \"original_max_position_embeddings\", got %+v", *s)
		}
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWavelen, highWavelen := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen: // high frequency: unchanged
			case wavelen > lowWavelen: // low frequency: scaled down
				inv[i] = f / s.Factor
			default: // in between: interpolate
				smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	default:
		return nil, fmt.Errorf("rope_scaling: type %q not supported (supported: llama3, linear)", kind)
	}
	// The graph computes in float32: a theta or factor that passes the
	// checks above can still take a frequency out of its range.
	for i, f := range inv {
		if f32 := float64(float32(f)); math.IsNaN(f32) || math.IsInf(f32, 0) {
			return nil, fmt.Errorf("rotary embedding: rope_theta %v and rope_scaling %+v give frequency %d the value %v, outside float32", theta, scaling, i, f)
		}
	}
	return inv, nil
}

// positiveFinite reports whether v is a number above 0 and below infinity
// (NaN is neither).
func positiveFinite(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

// ApplyRotary rotates x [B, H, T, d] by the angles positions [B, T] (int32)
// times invFreq, in Hugging Face's "rotate half" layout: feature i pairs with
// feature i + d/2.
func ApplyRotary(x, positions *Node, invFreq []float64) *Node {
	return rotateHalf(x, positions, floatConst(x.Graph(), invFreq), 1)
}
