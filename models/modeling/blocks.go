package modeling

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
)

// LayerNorm normalizes x over its last axis and applies weight and bias, as
// torch.nn.LayerNorm does (biased variance). eps must come from the model's
// config: GPT-2 uses 1e-5, BERT 1e-12.
func LayerNorm(x, weight, bias *Node, eps float64) *Node {
	axis := x.Rank() - 1
	mean := ReduceAndKeep(x, ReduceMean, axis)
	centered := Sub(x, mean)
	variance := ReduceAndKeep(Square(centered), ReduceMean, axis)
	// 1/Sqrt rather than Rsqrt: ONNX Runtime's backend lacks Rsqrt. The
	// reciprocal is taken on the reduced shape, so the full-size operation
	// (and its gradient) is a product, not a division.
	inv := Div(OnesLike(variance), Sqrt(AddScalar(variance, eps)))
	normed := Mul(Mul(centered, inv), Like(weight, x))
	if bias != nil {
		normed = Add(normed, Like(bias, x))
	}
	return normed
}

// RMSNorm scales x by the reciprocal root mean square of its last axis and
// by weight, as LLaMA's RMSNorm does.
func RMSNorm(x, weight *Node, eps float64) *Node {
	ms := ReduceAndKeep(Square(x), ReduceMean, x.Rank()-1)
	inv := Div(OnesLike(ms), Sqrt(AddScalar(ms, eps)))
	return Mul(Mul(x, inv), Like(weight, x))
}

// Linear applies a torch.nn.Linear: weight is [out, in], bias [out] or nil.
// x is [..., in].
func Linear(x, weight, bias *Node) *Node {
	dims := x.Shape().Dimensions
	in := dims[len(dims)-1]
	flat := Reshape(x, -1, in)
	var y *Node
	if f := formOf(weight); f != nil {
		y = f.product(flat) // a kept low-bit weight, dequantized a slice at a time
	} else if blocks := rowBlocks(weight); blocks != nil {
		// A weight laid out by Params.SplitRows: multiplied block by
		// block, never concatenated (that would hold a second copy of the
		// weight).
		y = blockProduct(flat, blocks)
	} else {
		y = matmul("ni,oi->no", flat, weight)
	}
	if bias != nil {
		y = Add(y, Like(bias, y))
	}
	out := append(append([]int(nil), dims[:len(dims)-1]...), weight.Shape().Dimensions[0])
	return Reshape(y, out...)
}

// Like reshapes v (a weight or bias over the trailing axes of x) to x's rank
// by adding leading axes of size 1, so that it broadcasts against x.
func Like(v, x *Node) *Node {
	if v.Rank() == x.Rank() {
		return v
	}
	dims := make([]int, x.Rank()-v.Rank(), x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	return Reshape(v, append(dims, v.Shape().Dimensions...)...)
}

// Embed looks up the rows of table [vocab, dim] for integer ids [...],
// giving [..., dim].
func Embed(table, ids *Node) *Node {
	if f := formOf(table); f != nil {
		return f.rows(ids) // a kept low-bit table: only the rows looked up are dequantized
	}
	if blocks := rowBlocks(table); blocks != nil {
		return blockEmbed(blocks, ids) // a table laid out by Params.SplitRows
	}
	return Gather(table, ExpandAxes(ids, -1))
}

// EmbedIn is Embed in the graph of s: in graphs never differentiated, on
// engines where a Gather copies the whole table (Engine.SlicedLookups), a
// few ids are looked up one DynamicSlice each, which reads only their rows.
// (Not in graphs that are differentiated: each slice's gradient is a
// table-sized update.)
func (s Scope) EmbedIn(table, ids *Node) *Node {
	n := ids.Shape().Size()
	if !s.Inference() || !s.Engine().SlicedLookups || n > maxSlicedLookups || rowBlocks(table) != nil || formOf(table) != nil {
		return Embed(table, ids)
	}
	g := ids.Graph()
	flat := Reshape(ids, n)
	zero := ScalarZero(g, ids.DType())
	dim := table.Shape().Dimensions[1]
	rows := make([]*Node, n)
	for i := range n {
		rows[i] = DynamicSlice(table, []*Node{Reshape(Slice(flat, AxisRange(i, i+1))), zero}, []int{1, dim})
	}
	return Reshape(Concatenate(rows, 0), append(ids.Shape().Clone().Dimensions, dim)...)
}

// maxSlicedLookups bounds the ids Embed looks up one slice each on ONNX
// Runtime (a prefill of 128 tokens; a BERT batch of 32×128 gathers).
const maxSlicedLookups = 256

// GeluTanh is the tanh approximation of GELU (Hugging Face's "gelu_new",
// "gelu_pytorch_tanh"), used by GPT-2.
func GeluTanh(x *Node) *Node { return activation.GeluApproximate(x) }

// Gelu is the exact GELU, x·Φ(x), used by BERT ("gelu").
func Gelu(x *Node) *Node { return activation.Gelu(x) }

// SiLU is x·sigmoid(x), the activation of LLaMA's gated MLP.
func SiLU(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// Activation returns the activation named by a config's hidden_act or
// activation_function, or nil when the name is unknown.
func Activation(name string) func(*Node) *Node {
	switch name {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return GeluTanh
	case "gelu":
		return Gelu
	case "silu", "swish":
		return SiLU
	case "relu":
		return func(x *Node) *Node { return MaxScalar(x, 0.0) }
	case "tanh":
		return Tanh
	}
	return nil
}

// SplitHeads reshapes x [B, T, heads*headDim] to [B, heads, T, headDim].
func SplitHeads(x *Node, heads, headDim int) *Node {
	dims := x.Shape().Dimensions
	return TransposeAllDims(Reshape(x, dims[0], dims[1], heads, headDim), 0, 2, 1, 3)
}

// MergeHeads reshapes x [B, heads, T, headDim] back to [B, T, heads*headDim].
func MergeHeads(x *Node) *Node {
	dims := x.Shape().Dimensions
	return Reshape(TransposeAllDims(x, 0, 2, 1, 3), dims[0], dims[2], dims[1]*dims[3])
}

// maskValue is Hugging Face's additive mask value, the lowest float32: a
// masked score becomes exactly zero after softmax, and a row with every key
// masked becomes uniform rather than NaN, as in PyTorch.
const maskValue = -math.MaxFloat32

// Attend computes softmax(q·kᵀ·scale + mask)·v. q is [B, H, Q, d]; k and v
// are [B, KVH, K, d] where KVH divides H (grouped-query attention: each run of
// H/KVH query heads shares one key/value head); allowed is a boolean
// [B, 1, Q, K] (true: the query may see the key). It returns the output
// [B, H, Q, d] and the attention probabilities [B, H, Q, K].
func Attend(q, k, v, allowed *Node, scale float64) (out, probs *Node) {
	return attend(q, k, v, allowed, AttendOptions{Scale: scale}, nil)
}

// Attend is modeling.Attend with dropout at rate on the attention
// probabilities in training graphs (Hugging Face's attn_dropout); probs are
// those before dropout.
func (s Scope) Attend(q, k, v, allowed *Node, scale, rate float64) (out, probs *Node) {
	return s.AttendWith(q, k, v, allowed, AttendOptions{Scale: scale, Dropout: rate})
}

// AttendOptions are the settings of an attention beyond its inputs.
type AttendOptions struct {
	// Scale multiplies q·kᵀ.
	Scale float64
	// SoftCap, when positive, bounds the scaled scores to ±SoftCap with
	// SoftCap·tanh(score/SoftCap) before the mask (Gemma 2).
	SoftCap float64
	// Dropout is the rate of dropout on the probabilities, in training
	// graphs only.
	Dropout float64
	// Pattern, when set, takes the probabilities and returns those that
	// weigh the values: the attention pattern's hook point.
	Pattern func(probs *Node) *Node
	// Block, when positive, computes attention blockwise (flash.go):
	// blocks of Block queries and keys, an online softmax, no probabilities
	// returned. 0: plain attention.
	Block int
	// Mask, when set, is the rule the mask follows: blocked attention
	// builds each block's mask from it and skips the blocks it hides, and
	// allowed may be nil.
	Mask *MaskRule
	// Sparse, when set, keeps only the pattern's blocks: blockwise in its
	// blocks when Block is positive, else densely under its mask.
	Sparse *SparsePattern
}

// AttendWith is Attend with every option: a soft cap on the scores,
// dropout on the probabilities (probs are those before dropout), blocked
// or block-sparse attention (probs nil), and a mask given by rule (allowed
// may then be nil).
func (s Scope) AttendWith(q, k, v, allowed *Node, o AttendOptions) (out, probs *Node) {
	drop := func(p *Node) *Node { return s.Dropout(p, o.Dropout) }
	if o.Block > 0 {
		return blockedAttend(q, k, v, allowed, o, drop), nil
	}
	numQ, numK := q.Shape().Dimensions[2], k.Shape().Dimensions[2]
	if allowed == nil {
		allowed = o.Mask.Allowed(q.Graph(), numQ, numK)
	}
	if o.Sparse != nil {
		pattern := o.Sparse.Allowed(q.Graph(), numQ, numK, o.Mask != nil && o.Mask.Causal)
		allowed = LogicalAnd(allowed, BroadcastToDims(pattern, allowed.Shape().Dimensions...))
	}
	return attend(q, k, v, allowed, o, drop)
}

// attend is Attend with o's soft cap, and drop (nil: none) applied to the
// probabilities that weigh the values.
func attend(q, k, v, allowed *Node, o AttendOptions, drop func(*Node) *Node) (out, probs *Node) {
	heads, kvHeads := q.Shape().Dimensions[1], k.Shape().Dimensions[1]
	if kvHeads != heads {
		k, v = RepeatKV(k, heads/kvHeads), RepeatKV(v, heads/kvHeads)
	}
	scores := o.capped(MulScalar(matmul("bhqd,bhkd->bhqk", q, k), o.Scale))
	bias := Where(allowed, ScalarZero(q.Graph(), dtypes.Float32), Scalar(q.Graph(), dtypes.Float32, maskValue))
	probs = Softmax(Add(scores, bias), -1)
	if o.Pattern != nil {
		probs = o.Pattern(probs)
	}
	weights := probs
	if drop != nil {
		weights = drop(probs)
	}
	return matmul("bhqk,bhkd->bhqd", weights, v), probs
}

// capped applies the soft cap to scaled scores (nothing when SoftCap is 0).
func (o AttendOptions) capped(scores *Node) *Node {
	if o.SoftCap <= 0 {
		return scores
	}
	return SoftCap(scores, o.SoftCap)
}

// computeDType is the key of the graph state SetComputeDType attaches.
type computeDType struct{}

// SetComputeDType makes the matrix products of the projections (Linear)
// and of attention in g run in dt (bfloat16 or float16): their float32
// operands are converted to dt and their results back to float32, as
// PyTorch's autocast does for matmuls. Weights, norms, softmax and the loss
// stay float32. A trainer sets it on its graphs (Trainer.SetPrecision).
func SetComputeDType(g *Graph, dt dtypes.DType) { g.AttachState(computeDType{}, dt) }

// matmul is Einsum in the compute dtype of its graph (SetComputeDType).
func matmul(equation string, a, b *Node) *Node {
	dt, ok := a.Graph().State(computeDType{}).(dtypes.DType)
	if !ok || dt == a.DType() {
		return Einsum(equation, a, b)
	}
	return ConvertDType(Einsum(equation, ConvertDType(a, dt), ConvertDType(b, dt)), a.DType())
}

// attendCached is Attend over two sets of keys and values: those already
// in a KV cache (kc, vc [B, KVH, L, d], allowedCached [B, 1, Q, L]) and
// those of the current tokens (k, v [B, KVH, T, d], allowedNew
// [B, 1, Q, T]), with one softmax over both: the same result as Attend
// over the cache with the new keys written into it, without the write.
func attendCached(q, kc, vc, allowedCached, k, v, allowedNew *Node, o AttendOptions) *Node {
	heads, kvHeads := q.Shape().Dimensions[1], k.Shape().Dimensions[1]
	if kvHeads != heads {
		kc, vc = RepeatKV(kc, heads/kvHeads), RepeatKV(vc, heads/kvHeads)
		k, v = RepeatKV(k, heads/kvHeads), RepeatKV(v, heads/kvHeads)
	}
	g := q.Graph()
	zero, masked := ScalarZero(g, dtypes.Float32), Scalar(g, dtypes.Float32, maskValue)
	cached := Add(o.capped(MulScalar(Einsum("bhqd,bhkd->bhqk", q, kc), o.Scale)), Where(allowedCached, zero, masked))
	fresh := Add(o.capped(MulScalar(Einsum("bhqd,bhkd->bhqk", q, k), o.Scale)), Where(allowedNew, zero, masked))
	l := kc.Shape().Dimensions[2]
	probs := Softmax(Concatenate([]*Node{cached, fresh}, -1), -1)
	pc, pn := Slice(probs, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, l)), Slice(probs, AxisRange(), AxisRange(), AxisRange(), AxisRange(l))
	return Add(Einsum("bhqk,bhkd->bhqd", pc, vc), Einsum("bhqk,bhkd->bhqd", pn, v))
}

// RepeatKV repeats each key/value head n times along the head axis:
// [B, KVH, K, d] -> [B, KVH*n, K, d], as Hugging Face's repeat_kv.
func RepeatKV(x *Node, n int) *Node {
	if n == 1 {
		return x
	}
	d := x.Shape().Dimensions
	x = BroadcastToDims(InsertAxes(x, 2), d[0], d[1], n, d[2], d[3])
	return Reshape(x, d[0], d[1]*n, d[2], d[3])
}

// AllowedKeys builds the boolean mask [B, 1, Q, K] for queries at the slots
// qSlots [Q] (int32) over K key slots 0..K-1: with causal, a key must not come
// after the query; with window > 0 it must also be among the query's last
// window slots (key > query - window, Hugging Face's sliding window); and
// keyValid [B, K] (int32, 1 = a real token), when given, masks padding.
func AllowedKeys(qSlots *Node, numKeys int, keyValid *Node, causal bool, window int) *Node {
	return allowedKeysAt(qSlots, Iota(qSlots.Graph(), shapes.Make(dtypes.Int32, numKeys), 0), keyValid, causal, window)
}

// allowedKeysAt is AllowedKeys for keys at the slots kSlots [K].
func allowedKeysAt(qSlots, kSlots *Node, keyValid *Node, causal bool, window int) *Node {
	numQ, numKeys := qSlots.Shape().Dimensions[0], kSlots.Shape().Dimensions[0]
	q := BroadcastToDims(InsertAxes(qSlots, 1), numQ, numKeys)
	k := BroadcastToDims(InsertAxes(kSlots, 0), numQ, numKeys)
	allowedB := GreaterOrEqual(k, ZerosLike(k)) // all true
	if causal {
		allowedB = LessOrEqual(k, q)
	}
	if window > 0 {
		allowedB = LogicalAnd(allowedB, GreaterThan(k, AddScalar(q, -float64(window))))
	}
	allowedB = InsertAxes(allowedB, 0, 0) // [1, 1, Q, K]
	if keyValid == nil {
		return allowedB
	}
	b := keyValid.Shape().Dimensions[0]
	valid := InsertAxes(NotEqual(keyValid, ZerosLike(keyValid)), 1, 1) // [B, 1, 1, K]
	return LogicalAnd(BroadcastToDims(allowedB, b, 1, numQ, numKeys), BroadcastToDims(valid, b, 1, numQ, numKeys))
}
