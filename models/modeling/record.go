package modeling

import (
	. "github.com/gomlx/gomlx/core/graph"
)

// RouterLogits is the name under which a mixture-of-experts network records
// each sparse layer's router logits [B, T, experts] (Scope.Record), in
// layer order: Hugging Face's output_router_logits.
const RouterLogits = "router_logits"

// recordKey is the key of the graph state that holds what a network
// recorded.
type recordKey struct{}

// Record keeps x under name in the graph being built, for whoever built it
// to read with Recorded after the network returns (Hugging Face's
// capture_outputs): an intermediate result that a forward pass may return
// or a loss may use, such as a router's logits, without the network's
// signature naming it. Declaring graphs record nothing.
func (s Scope) Record(name string, x *Node) {
	if s.state.params == nil {
		return
	}
	rec, _ := s.g.State(recordKey{}).(map[string][]*Node)
	if rec == nil {
		rec = map[string][]*Node{}
		s.g.AttachState(recordKey{}, rec)
	}
	rec[name] = append(rec[name], x)
}

// Recorded returns what the networks built in g recorded under name, in
// the order they recorded it (nil when nothing was).
func Recorded(g *Graph, name string) []*Node {
	rec, _ := g.State(recordKey{}).(map[string][]*Node)
	return rec[name]
}
