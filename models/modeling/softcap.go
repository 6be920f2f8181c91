package modeling

import . "github.com/gomlx/gomlx/core/graph"

// SoftCap bounds x to ±limit smoothly, limit·tanh(x/limit), as Gemma 2 caps
// its attention scores and final logits.
func SoftCap(x *Node, limit float64) *Node {
	return MulScalar(Tanh(DivScalar(x, limit)), limit)
}
