package modeling

import . "github.com/gomlx/gomlx/core/graph"

// GatedMLP applies the gated feed-forward block of LLaMA and the families
// built like it (Hugging Face's LlamaMLP, Qwen2MLP, Qwen3MLP, MistralMLP):
// down_proj(act(gate_proj(h)) · up_proj(h)), with intermediate the width of
// gate_proj and up_proj, and biases on all three when bias is set.
func (s Scope) GatedMLP(h *Node, act func(*Node) *Node, intermediate int, bias bool) *Node {
	col := ColumnParallel
	gated := Mul(act(s.Linear(h, "gate_proj", col, intermediate, bias)), s.Linear(h, "up_proj", col, intermediate, bias))
	return s.Linear(gated, "down_proj", RowParallel, h.Shape().Dimensions[h.Rank()-1], bias)
}
