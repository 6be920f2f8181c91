package bert_test

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Load a BERT question-answering checkpoint (a tiny random one) and encode a
// padded batch with segment ids: the head gives start and end logits.
func ExampleLoad() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	m, err := bert.Load(filepath.Join(golden.Dir("bert"), "qa"), backend)
	if err != nil {
		panic(err)
	}
	out, err := m.Forward(modeling.Batch{
		IDs:           [][]int32{{2, 10, 11, 3, 20, 21, 3}, {2, 12, 3, 22, 3, 0, 0}},
		TokenTypeIDs:  [][]int32{{0, 0, 0, 0, 1, 1, 1}, {0, 0, 0, 1, 1, 0, 0}},
		AttentionMask: [][]int32{{1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0, 0}},
	}, modeling.ForwardOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("head:", m.Head)
	fmt.Println("start logits:", out.StartLogits.Shape(), "end logits:", out.EndLogits.Shape())
	fmt.Println("pooled:", out.Pooled.Shape())
	// Output:
	// head: question-answering
	// start logits: (Float32)[2, 7] end logits: (Float32)[2, 7]
	// pooled: (Float32)[2, 32]
}
