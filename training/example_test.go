package training_test

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// signSGD steps each weight against the sign of its gradient, with a
// running count of steps as its state (to show how state is kept).
type signSGD struct{}

func (signSGD) State(_ string, _ []int) []training.StateSpec {
	return []training.StateSpec{{Name: "count", Dims: nil}}
}

func (signSGD) Update(u training.Update) (*Node, []*Node) {
	return Sub(u.Weight, Mul(u.LR, Sign(u.Grad))), []*Node{AddScalar(u.State[0], 1)}
}

// A user-written optimizer: the trainer compiles its update into the
// training step and keeps its state beside the weights.
func Example_optimizer() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	params := modeling.NewParams()
	params.Set("w", tensors.FromFlatDataAndDimensions([]float32{1, -2, 3}, 3))
	loss := func(g *Graph, _ []*Node) *Node { return ReduceAllSum(Square(params.Node(g, "w"))) } // gradient 2w

	tr, err := training.NewTrainer(params, backend, loss, signSGD{}, 0)
	if err != nil {
		panic(err)
	}
	for range 2 {
		if _, _, err := tr.Step(0.5); err != nil {
			panic(err)
		}
	}
	w, _ := params.Variable("w").Value()
	count, _ := params.Store.GetVariable(modeling.VariablePath("optimizer.count.w")).Value()
	fmt.Println("w:", tensors.MustCopyFlatData[float32](w))
	fmt.Println("steps counted:", tensors.MustCopyFlatData[float32](count))
	// Output:
	// w: [0 -1 2]
	// steps counted: [2]
}
