package generate

import (
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Attention is what a causal language model attends to over one sequence:
// every layer's and head's attention probabilities, with a label per token.
type Attention struct {
	IDs []int32
	// Labels name the tokens, for charts: the text each token decodes to
	// (with a Generator), else "position:id".
	Labels []string
	// Weights are indexed [layer][head][query][key]; each query's row sums
	// to 1 over the keys up to it.
	Weights [][][][]float32
}

// Head returns layer's head's [query][key] weights, with negative layer
// counting from the last one (-1: the last layer), as viz.Attention draws
// them.
func (a *Attention) Head(layer, head int) ([][]float32, error) {
	if layer < 0 {
		layer += len(a.Weights)
	}
	if layer < 0 || layer >= len(a.Weights) || head < 0 || head >= len(a.Weights[layer]) {
		return nil, fmt.Errorf("generate: layer %d, head %d: the model has %d layers of %d heads", layer, head, len(a.Weights), len(a.Weights[0]))
	}
	return a.Weights[layer][head], nil
}

// AttentionOf runs lm over ids and returns its attention, tokens labelled
// "position:id".
func AttentionOf(lm models.CausalLM, ids []int32) (*Attention, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("generate: attention of no tokens")
	}
	out, err := lm.Forward(modeling.Batch{IDs: [][]int32{ids}}, modeling.ForwardOptions{Attentions: true})
	if err != nil {
		return nil, err
	}
	weights, err := out.AttentionWeights(0)
	if err != nil {
		return nil, err
	}
	labels := make([]string, len(ids))
	for i, id := range ids {
		labels[i] = fmt.Sprintf("%d:%d", i, id)
	}
	return &Attention{IDs: ids, Labels: labels, Weights: weights}, nil
}

// Attention encodes text as Generate does and returns the model's attention
// over it, each token labelled with the text it decodes to.
func (g *Generator) Attention(text string) (*Attention, error) {
	ids, _, err := g.prepare([]string{text}, Options{})
	if err != nil {
		return nil, err
	}
	a, err := AttentionOf(g.Model, ids[0])
	if err != nil {
		return nil, err
	}
	for i, id := range a.IDs {
		piece := g.Tokenizer.Decode([]int32{id}, false)
		if strings.TrimSpace(piece) == "" || strings.ContainsRune(piece, '\uFFFD') {
			piece = fmt.Sprintf("%q", piece) // spaces, newlines and part-characters, visible
		}
		a.Labels[i] = piece
	}
	return a, nil
}
