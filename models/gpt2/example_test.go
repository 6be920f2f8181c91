package gpt2_test

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Load a GPT-2 checkpoint (here a tiny random one), run it over a batch and
// ask for every layer's hidden states and attention probabilities.
func ExampleLoad() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	m, err := gpt2.Load(filepath.Join(golden.Dir("gpt2"), "model"), backend)
	if err != nil {
		panic(err)
	}
	out, err := m.Forward(modeling.Batch{IDs: [][]int32{{11, 42, 7, 3}}},
		modeling.ForwardOptions{HiddenStates: true, Attentions: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("logits:", out.Logits.Shape())
	fmt.Println("hidden states:", len(out.HiddenStates), out.HiddenStates[0].Shape())
	fmt.Println("attentions:", len(out.Attentions), out.Attentions[0].Shape())
	// Output:
	// logits: (Float32)[1, 4, 96]
	// hidden states: 3 (Float32)[1, 4, 32]
	// attentions: 2 (Float32)[1, 4, 4, 4]
}
