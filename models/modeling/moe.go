package modeling

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// TopKRouter routes tokens as Mixtral's router (MixtralTopKRouter) does
// after its gate projection: a softmax over every expert's logit, the k
// most probable experts, and their probabilities divided by their sum.
// logits is [N, experts]; weights [N, k] (float32, summing to 1) and
// experts [N, k] (int32) list each token's chosen experts, most probable
// first. (The choice carries no gradient; the weights do, through the
// softmax, as in PyTorch.)
func TopKRouter(logits *Node, k int) (weights, experts *Node) {
	probs := Softmax(logits, -1)
	index, chosen := topK(probs, k)
	top := make([]*Node, k)
	for i, oneHot := range chosen {
		top[i] = ReduceSum(Mul(probs, oneHot), -1)
	}
	topProbs := Stack(top, -1)
	return Div(topProbs, ReduceAndKeep(topProbs, ReduceSum, -1)), Stack(index, -1)
}

// topK returns the positions of the k largest values along x's last axis,
// largest first (ties go to the lowest position, as ArgMax breaks them):
// as int32 indices [...], and as float32 one-hot masks [..., n] without
// gradient. It takes k ArgMaxes rather than a sort, which every engine
// runs (k is 1 or 2 in the models here).
func topK(x *Node, k int) (index, oneHot []*Node) {
	n := x.Shape().Dimensions[x.Rank()-1]
	lowest := Scalar(x.Graph(), x.DType(), maskValue)
	for range k {
		i := StopGradient(ArgMax(x, -1))
		h := StopGradient(OneHot(i, n, x.DType()))
		index, oneHot = append(index, i), append(oneHot, h)
		x = Where(GreaterThan(h, ZerosLike(h)), lowest, x)
	}
	return index, oneHot
}

// SparseExperts runs a mixture of SwiGLU experts (Mixtral's
// MixtralExperts) over x [N, d]: each token's output is the sum, over its
// chosen experts (experts [N, k], int32) with their weights [N, k], of
// down(act(gate(x)) · up(x)). gateUp [E, 2I, d] holds each expert's gate
// projection then its up projection, as Hugging Face's fused gate_up_proj;
// down is [E, d, I].
//
// Shapes are static, so the experts a token did not choose cannot be
// skipped by a data-dependent loop as PyTorch does. Two formulations give
// the same values: when the tokens' choices are fewer than the experts (a
// decoding step) and the weights are not sharded, each token gathers its
// chosen experts' weights, reading k experts per token rather than all of
// them; otherwise every expert runs on every token and the outputs are
// weighted by the (mostly zero) gates, E/k times the products of a sparse
// dispatch but dense matrix products that engines run fast, and under
// expert parallelism each device runs its own experts (see
// docs/benchmarks.md's mixture-of-experts figures).
func (s Scope) SparseExperts(x, gateUp, down, weights, experts *Node, act func(*Node) *Node) *Node {
	n, k := weights.Shape().Dimensions[0], weights.Shape().Dimensions[1]
	e := gateUp.Shape().Dimensions[0]
	sharded := s.state.params != nil && s.state.params.Sharding() != nil
	if n*k < e && !sharded {
		return gatheredExperts(x, gateUp, down, weights, experts, act)
	}
	return denseExperts(x, gateUp, down, weights, experts, act)
}

// swiGLU splits fused gate and up projections [..., 2I] and returns
// act(gate) · up [..., I].
func swiGLU(gateUp *Node, act func(*Node) *Node) *Node {
	i := gateUp.Shape().Dimensions[gateUp.Rank()-1] / 2
	gate := SliceAxis(gateUp, -1, AxisRange(0, i))
	up := SliceAxis(gateUp, -1, AxisRange(i, 2*i))
	return Mul(act(gate), up)
}

// denseExperts runs every expert on every token and adds their outputs
// weighted by each token's gates (zero for the experts it did not choose).
func denseExperts(x, gateUp, down, weights, experts *Node, act func(*Node) *Node) *Node {
	e := gateUp.Shape().Dimensions[0]
	hidden := swiGLU(matmul("nd,efd->enf", x, gateUp), act) // [E, N, I]
	out := matmul("eni,edi->end", hidden, down)             // [E, N, d]
	chosen := StopGradient(OneHot(experts, e, weights.DType()))
	gates := ReduceSum(Mul(chosen, InsertAxes(weights, -1)), 1) // [N, E]
	return Einsum("end,ne->nd", out, gates)
}

// gatheredExperts gathers each token's chosen experts' weights and runs
// only those.
func gatheredExperts(x, gateUp, down, weights, experts *Node, act func(*Node) *Node) *Node {
	at := InsertAxes(experts, -1)                                        // [N, k, 1]
	hidden := swiGLU(matmul("nd,nkfd->nkf", x, Gather(gateUp, at)), act) // [N, k, I]
	out := matmul("nki,nkdi->nkd", hidden, Gather(down, at))             // [N, k, d]
	return Einsum("nkd,nk->nd", out, weights)
}

// LoadBalancingLoss is Hugging Face's load_balancing_loss_func, the
// Switch Transformer's auxiliary loss that pushes a router to spread
// tokens over its experts: E · Σₑ fₑ·Pₑ, where fₑ is the number of top-k
// choices of expert e per token and Pₑ its mean router probability, both
// pooled over every sparse layer's tokens. routerLogits are those layers'
// logits [B, T, E] (what the network recorded under RouterLogits); mask
// [B, T] (int32, 1 = a real token; nil: all are) leaves padding out.
func LoadBalancingLoss(routerLogits []*Node, k int, mask *Node) *Node {
	first := routerLogits[0]
	g, e := first.Graph(), first.Shape().Dimensions[2]
	weight := OnesLike(SliceAxis(first, -1, AxisRange(0, 1))) // [B, T, 1]
	if mask != nil {
		weight = InsertAxes(ConvertDType(NotEqual(mask, ZerosLike(mask)), dtypes.Float32), -1)
	}
	chosenSum, probSum := Zeros(g, first.Shape()), Zeros(g, first.Shape())
	rows := ScalarZero(g, dtypes.Float32)
	for _, logits := range routerLogits {
		probs := Softmax(logits, -1)
		_, chosen := topK(probs, k)
		for _, c := range chosen {
			chosenSum = Add(chosenSum, Mul(c, weight))
		}
		probSum = Add(probSum, Mul(probs, weight))
		rows = Add(rows, ReduceAllSum(weight))
	}
	perExpert := func(x *Node) *Node { return Div(ReduceSum(x, 0, 1), rows) } // [E]
	return MulScalar(ReduceAllSum(Mul(perExpert(chosenSum), perExpert(probSum))), float64(e))
}
