package modeling

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Rotary is a rotary position embedding that may turn only the first
// features of each head (partial rotary: the rest pass unchanged) and may
// switch between two sets of frequencies by how far a call reaches
// (Phi-3's "longrope").
type Rotary struct {
	// Short are the inverse frequencies: the first 2·len(Short) features of
	// each head rotate, in Hugging Face's "rotate half" layout.
	Short []float64
	// Long, when set, replaces Short in a call whose largest position plus
	// one exceeds SwitchAfter. As transformers' longrope_frequency_update
	// does, the choice holds for every row and position of the call, and
	// keys a KV cache already holds keep the frequencies they were rotated
	// with.
	Long        []float64
	SwitchAfter int
	// Scale multiplies cos and sin (longrope's attention factor); 0 means 1.
	Scale float64
}

// Apply rotates x [B, H, T, d] by positions [B, T] (int32).
func (r Rotary) Apply(x, positions *Node) *Node {
	g := x.Graph()
	inv := floatConst(g, r.Short)
	if r.Long != nil {
		reach := AddScalar(ReduceAllMax(positions), 1)
		inv = Where(GreaterThan(reach, Scalar(g, dtypes.Int32, r.SwitchAfter)), floatConst(g, r.Long), inv)
	}
	n, d := 2*len(r.Short), x.Shape().Dimensions[x.Rank()-1]
	scale := r.Scale
	if scale == 0 {
		scale = 1
	}
	if n == d {
		return rotateHalf(x, positions, inv, scale)
	}
	rotated := rotateHalf(SliceAxis(x, -1, AxisRange(0, n)), positions, inv, scale)
	return Concatenate([]*Node{rotated, SliceAxis(x, -1, AxisRange(n, d))}, -1)
}

// floatConst is values as a float32 constant.
func floatConst(g *Graph, values []float64) *Node {
	f := make([]float32, len(values))
	for i, v := range values {
		f[i] = float32(v)
	}
	return Const(g, f)
}

// rotateHalf rotates x [B, H, T, d] by the angles positions [B, T] times
// inv [d/2], in Hugging Face's "rotate half" layout (feature i pairs with
// feature i + d/2), with cos and sin multiplied by scale.
func rotateHalf(x, positions, inv *Node, scale float64) *Node {
	half := inv.Shape().Dimensions[0]
	pos := ConvertDType(positions, dtypes.Float32)               // [B, T]
	freqs := Mul(InsertAxes(pos, -1), Reshape(inv, 1, 1, half))  // [B, T, d/2]
	emb := InsertAxes(Concatenate([]*Node{freqs, freqs}, -1), 1) // [B, 1, T, d]
	cos, sin := Cos(emb), Sin(emb)
	if scale != 1 {
		cos, sin = MulScalar(cos, scale), MulScalar(sin, scale)
	}
	x1 := SliceAxis(x, -1, AxisRange(0, half))
	x2 := SliceAxis(x, -1, AxisRange(half, 2*half))
	rotated := Concatenate([]*Node{Neg(x2), x1}, -1)
	return Add(Mul(x, cos), Mul(rotated, sin))
}

// LongRopeParams are the settings of a longrope embedding, as transformers'
// _compute_longrope_parameters reads them from a config.
type LongRopeParams struct {
	// Dim is how many features of each head rotate.
	Dim   int
	Theta float64
	// Short and Long are the per-frequency divisors (short_factor,
	// long_factor), Dim/2 each.
	Short, Long []float64
	// Factor is the context extension (nil: MaxPositions /
	// OriginalMaxPositions); AttentionFactor scales cos and sin (nil:
	// sqrt(1 + ln factor / ln OriginalMaxPositions), 1 when factor ≤ 1).
	Factor, AttentionFactor *float64
	// OriginalMaxPositions is where the long factors take over.
	OriginalMaxPositions, MaxPositions int
}

// LongRope returns the rotary embedding of Phi-3's "longrope" scaling:
// inverse frequencies 1 / (factor_i · theta^(2i/Dim)) with the short
// factors up to OriginalMaxPositions and the long ones past it, computed in
// float32 as Hugging Face computes them.
func LongRope(p LongRopeParams) (Rotary, error) {
	if p.Dim <= 0 || p.Dim%2 != 0 {
		return Rotary{}, fmt.Errorf("rotary embedding: %d rotating features per head; longrope needs an even number", p.Dim)
	}
	if p.OriginalMaxPositions <= 0 {
		return Rotary{}, fmt.Errorf("rope_scaling: longrope needs a positive \"original_max_position_embeddings\", got %d", p.OriginalMaxPositions)
	}
	factor := float64(p.MaxPositions) / float64(p.OriginalMaxPositions)
	if p.Factor != nil {
		factor = *p.Factor
	}
	scale := 1.0
	if factor > 1 {
		scale = math.Sqrt(1 + math.Log(factor)/math.Log(float64(p.OriginalMaxPositions)))
	}
	if p.AttentionFactor != nil {
		scale = *p.AttentionFactor
	}
	if !positiveFinite(factor) || !positiveFinite(scale) {
		return Rotary{}, fmt.Errorf("rope_scaling: longrope's \"factor\" (%v) and \"attention_factor\" (%v) must be positive", factor, scale)
	}
	short, err := longRopeInvFreq("short_factor", p.Short, p.Dim, p.Theta)
	if err != nil {
		return Rotary{}, err
	}
	long, err := longRopeInvFreq("long_factor", p.Long, p.Dim, p.Theta)
	if err != nil {
		return Rotary{}, err
	}
	return Rotary{Short: short, Long: long, SwitchAfter: p.OriginalMaxPositions, Scale: scale}, nil
}

// longRopeInvFreq returns 1 / (factors_i · theta^(2i/dim)) in float32
// steps, naming the factor list field in errors.
func longRopeInvFreq(field string, factors []float64, dim int, theta float64) ([]float64, error) {
	if len(factors) != dim/2 {
		return nil, fmt.Errorf("rope_scaling: longrope's %q has %d entries; %d rotating features need %d", field, len(factors), dim, dim/2)
	}
	inv := make([]float64, len(factors))
	for i, f := range factors {
		if !positiveFinite(f) {
			return nil, fmt.Errorf("rope_scaling: longrope's %q: entry %d must be positive, got %v", field, i, f)
		}
		base := float32(math.Pow(theta, float64(float32(2*i)/float32(dim))))
		inv[i] = float64(1 / (float32(f) * base))
		if v := float64(float32(inv[i])); v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("rope_scaling: longrope's %q: rope_theta %v and entry %d (%v) give frequency %v, outside float32", field, theta, i, f, inv[i])
		}
	}
	return inv, nil
}
