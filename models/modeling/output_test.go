package modeling

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestAttentionWeightsFromTensors(t *testing.T) {
	// [batch 2, heads 2, tokens 2, tokens 2]: value = 1000·b + 100·h + 10·q + k.
	var flat []float32
	for b := range 2 {
		for h := range 2 {
			for q := range 2 {
				for k := range 2 {
					flat = append(flat, float32(1000*b+100*h+10*q+k))
				}
			}
		}
	}
	layer := tensors.FromFlatDataAndDimensions(flat, 2, 2, 2, 2)
	w, err := (&Output{Attentions: []*tensors.Tensor{layer, layer}}).AttentionWeights(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 2 || len(w[1]) != 2 || w[1][1][1][0] != 1110 || w[0][0][0][1] != 1001 {
		t.Errorf("weights %v", w)
	}
	if _, err := (&Output{}).AttentionWeights(0); err == nil || !strings.Contains(err.Error(), "ForwardOptions.Attentions") {
		t.Errorf("no attentions: error %v, want one saying to set ForwardOptions.Attentions", err)
	}
	f64 := tensors.FromFlatDataAndDimensions([]float64{0.5, 0.5, 1, 0}, 1, 1, 2, 2)
	if w, err := (&Output{Attentions: []*tensors.Tensor{f64}}).AttentionWeights(0); err != nil || w[0][0][1][0] != 1 {
		t.Errorf("float64 tensor: %v, %v", w, err)
	}
	for _, bad := range []struct {
		t    *tensors.Tensor
		row  int
		want string
	}{
		{tensors.FromFlatDataAndDimensions(flat, 4, 2, 2), 1, "want [batch, heads, tokens, tokens]"},
		{tensors.FromFlatDataAndDimensions(flat[:8], 1, 2, 2, 2), 1, "batch row 1 out of range [0, 1)"},
		{tensors.FromFlatDataAndDimensions([]int32{1, 0, 0, 1, 1, 0, 0, 1}, 2, 1, 2, 2), 1, "want float32 or float64"},
	} {
		if _, err := (&Output{Attentions: []*tensors.Tensor{layer, bad.t}}).AttentionWeights(bad.row); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "layer 1") {
			t.Errorf("error %v, want one naming layer 1 and %q", err, bad.want)
		}
	}
}

func ExampleOutput_AttentionWeights() {
	// One layer's attention, [batch 1, heads 2, tokens 2, tokens 2], as a
	// forward pass with ForwardOptions{Attentions: true} returns it.
	layer := tensors.FromFlatDataAndDimensions([]float32{1, 0, 0.5, 0.5, 1, 0, 0.9, 0.1}, 1, 2, 2, 2)
	out := &Output{Attentions: []*tensors.Tensor{layer}}
	weights, err := out.AttentionWeights(0)
	if err != nil {
		panic(err)
	}
	fmt.Println(weights[0][1]) // layer 0, head 1: [query][key]
	// Output: [[1 0] [0.9 0.1]]
}
