package mixtral

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// RouterAuxLoss is what MixtralForCausalLM adds to its training loss when
// it outputs router logits: router_aux_loss_coef × the load-balancing loss
// (modeling.LoadBalancingLoss) of the router logits the network recorded
// in g, leaving out the tokens whose mask [B, T] is 0 (nil: none). Give it
// to training.CausalLMLossWithAux.
func (m *Model) RouterAuxLoss(g *Graph, mask *Node) *Node {
	routers := modeling.Recorded(g, modeling.RouterLogits)
	if len(routers) == 0 {
		panic("mixtral: no router logits in the graph: build the network first (Decoder.ForwardGraph)")
	}
	return MulScalar(modeling.LoadBalancingLoss(routers, m.Config.NumExpertsPerTok, mask), *m.Config.RouterAuxLossCoef)
}

// ExpertChoice returns the experts the router sent each token of batch row
// row to, [layer][token][num_experts_per_tok], most probable first, and
// their weights in the token's output (renormalized, summing to 1), from a
// forward pass that returned its router logits (ForwardOptions.RouterLogits):
// MixtralTopKRouter's choice, for charts of how tokens use the experts.
func (m *Model) ExpertChoice(out *modeling.Output, row int) (experts [][][]int, weights [][][]float32, err error) {
	t := out.RouterLogits
	if t == nil {
		return nil, nil, fmt.Errorf("expert choice: the forward pass returned no router logits (set ForwardOptions.RouterLogits)")
	}
	dims := t.Shape().Dimensions
	if len(dims) != 4 || dims[3] != m.Config.NumLocalExperts {
		return nil, nil, fmt.Errorf("expert choice: router logits of shape %s, want [layers, batch, tokens, %d]", t.Shape(), m.Config.NumLocalExperts)
	}
	if row < 0 || row >= dims[1] {
		return nil, nil, fmt.Errorf("expert choice: batch row %d out of range [0, %d)", row, dims[1])
	}
	flat, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, nil, fmt.Errorf("expert choice: %w", err)
	}
	layers, tokens, e := dims[0], dims[2], dims[3]
	experts, weights = make([][][]int, layers), make([][][]float32, layers)
	for l := range layers {
		experts[l], weights[l] = make([][]int, tokens), make([][]float32, tokens)
		for tok := range tokens {
			at := ((l*dims[1]+row)*tokens + tok) * e
			experts[l][tok], weights[l][tok] = topExperts(flat[at:at+e], m.Config.NumExpertsPerTok)
		}
	}
	return experts, weights, nil
}

// topExperts is modeling.TopKRouter for one token's logits, on the host.
func topExperts(logits []float32, k int) ([]int, []float32) {
	chosen, top := make([]int, 0, k), make([]float32, 0, k)
	taken := make([]bool, len(logits))
	sum := 0.0
	for range k {
		best := -1
		for i, v := range logits {
			if !taken[i] && (best < 0 || v > logits[best]) {
				best = i
			}
		}
		taken[best] = true
		chosen = append(chosen, best)
		// The softmax's normalizer cancels in the renormalization.
		p := math.Exp(float64(logits[best] - logits[chosen[0]]))
		top, sum = append(top, float32(p)), sum+p
	}
	for i := range top {
		top[i] = float32(float64(top[i]) / sum)
	}
	return chosen, top
}
