package quant

import (
	"slices"
	"strings"

	onnx "github.com/gomlx/compute-onnx/support/protos"
)

// fusion is one quantized weight found in a compiled ONNX model: the graph
// inputs holding its stored tensors and the products that read its
// dequantization, each a MatMul of an activation by the transposed
// weight (how ONNX Runtime's GoMLX backend lowers Linear's "ni,oi->no").
type fusion struct {
	name   string // the weight, as Params names it
	layout Layout
	// inputs maps a stored tensor's suffix ("" for the codes) to its graph
	// input.
	inputs map[string]string
	// products are the indices of the MatMul nodes to replace.
	products []int
}

// selecting are the ONNX ops that pick part of a tensor: a dequantization
// graph holding one makes no whole weight, and is left alone.
var selecting = []string{"Slice", "Gather", "GatherElements", "GatherND", "Pad", "ScatterND", "ScatterElements"}

// findFusions returns, for each weight of weights (Params name → layout)
// whose stored tensors are graph inputs of g (GoMLX names a variable's
// parameter by its Store path, see modeling.VariablePath), the MatMul
// nodes that multiply by its dequantization. A weight whose dequantized
// form feeds anything else (a LoRA update, an embedding lookup) keeps
// those uses as they are.
func findFusions(g *onnx.GraphProto, weights map[string]Layout) []fusion {
	inputs := map[string]bool{}
	for _, in := range g.Input {
		inputs[in.Name] = true
	}
	var out []fusion
	for _, name := range sortedKeys(weights) {
		l := weights[name]
		f := fusion{name: name, layout: l, inputs: map[string]string{}}
		for _, suffix := range storedSuffixes(l) {
			path := paramPath(name + suffix)
			if !inputs[path] {
				f.inputs = nil
				break
			}
			f.inputs[suffix] = path
		}
		if f.inputs == nil {
			continue
		}
		if f.products = products(g, f.inputs); len(f.products) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// storedSuffixes are the stored tensors of a weight with layout l.
func storedSuffixes(l Layout) []string {
	switch {
	case l.Scheme == Int4:
		return []string{"", suffixScale, suffixZero}
	case l.DoubleQuant:
		return []string{"", suffixScaleCodes, suffixScaleScale, suffixScaleOffset}
	}
	return []string{"", suffixScale}
}

// paramPath is the parameter name GoMLX gives the variable of tensor name.
func paramPath(name string) string { return "/" + strings.ReplaceAll(name, ".", "/") }

// products returns the MatMul nodes of g whose right operand is the
// transpose of the weight computed from the graph inputs in (and
// constants) alone.
func products(g *onnx.GraphProto, in map[string]string) []int {
	constant := map[string]bool{"": true} // "" is an omitted optional input
	for _, t := range g.Initializer {
		constant[t.Name] = true
	}
	derived := map[string]bool{} // computed from in and constants
	for _, name := range in {
		derived[name] = true
	}
	producer := map[string]*onnx.NodeProto{}
	for _, n := range g.Node {
		fromWeight, fromOther := false, false
		for _, x := range n.Input {
			switch {
			case derived[x]:
				fromWeight = true
			case !constant[x]:
				fromOther = true
			}
		}
		for _, o := range n.Output {
			producer[o] = n
			if !fromOther {
				if fromWeight {
					derived[o] = true
					if slices.Contains(selecting, n.OpType) {
						return nil
					}
				} else {
					constant[o] = true
				}
			}
		}
	}
	var out []int
	for i, n := range g.Node {
		if n.OpType != "MatMul" || len(n.Input) != 2 || derived[n.Input[0]] || !derived[n.Input[1]] {
			continue
		}
		if t := producer[n.Input[1]]; t != nil && t.OpType == "Transpose" && isSwap(t) {
			out = append(out, i)
		}
	}
	return out
}

// isSwap reports a Transpose of a matrix's two axes.
func isSwap(t *onnx.NodeProto) bool {
	for _, a := range t.Attribute {
		if a.Name == "perm" {
			return slices.Equal(a.Ints, []int64{1, 0})
		}
	}
	return false
}

// rewrite replaces each fusion's products in g by MatMulNBits nodes over
// operands (the weights' NBits, by name), added as initializers, then
// removes what no longer feeds an output: the dequantization graphs and
// the graph inputs of their stored tensors. It returns the graph inputs
// removed.
func rewrite(g *onnx.GraphProto, fusions []fusion, operands map[string]*NBits, accuracy int) map[string]bool {
	for _, f := range fusions {
		nb := operands[f.name]
		prefix := paramPath(f.name) + "/nbits"
		for _, i := range f.products {
			old := g.Node[i]
			g.Node[i] = nb.node(prefix, old.Input[0], old.Output[0], accuracy)
		}
		g.Initializer = append(g.Initializer, nb.initializers(prefix)...)
	}
	removeDead(g)
	used := map[string]bool{}
	for _, n := range g.Node {
		for _, x := range n.Input {
			used[x] = true
		}
	}
	for _, o := range g.Output {
		used[o.Name] = true
	}
	dropped := map[string]bool{}
	for _, f := range fusions {
		for _, name := range f.inputs {
			if !used[name] {
				dropped[name] = true
			}
		}
	}
	g.Input = slices.DeleteFunc(g.Input, func(v *onnx.ValueInfoProto) bool { return dropped[v.Name] })
	return dropped
}

// removeDead removes the nodes none of whose outputs reaches a graph
// output.
func removeDead(g *onnx.GraphProto) {
	live := map[string]bool{}
	for _, o := range g.Output {
		live[o.Name] = true
	}
	keep := make([]bool, len(g.Node))
	for i := len(g.Node) - 1; i >= 0; i-- { // nodes are in topological order
		for _, o := range g.Node[i].Output {
			if live[o] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, x := range g.Node[i].Input {
				live[x] = true
			}
		}
	}
	var nodes []*onnx.NodeProto
	for i, n := range g.Node {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	g.Node = nodes
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
