package training

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// stepRun is what one training step gave: the loss, the gradient norm, the
// weights after it, and the matrix products (DotGeneral nodes) in the step's
// graph and in the forward pass's (the trainer's Eval graph).
type stepRun struct {
	loss, norm            float64
	weights               map[string][]float32
	stepDots, forwardDots int
}

// Gradient checkpointing recomputes each block's activations in the
// backward pass, for GPT-2 and LLaMA: every matrix product of the forward
// pass but the LM head's (which is outside the blocks) appears again in the
// step's graph, which it does not without checkpointing. And the gradients
// are the ones it gives without: the same loss, gradient norm and gradients
// (to 1e-6). One plain SGD step at learning rate 1 makes the weights' change
// the gradient itself (AdamW's first step would turn a near-zero gradient
// into ±lr).
func TestGradientCheckpointing(t *testing.T) {
	backend := golden.Backend(t)
	supported := backend.Capabilities().Operations[compute.OpTypeOptimizationBarrier]
	models := map[string]func() *modeling.Decoder{
		"gpt2": func() *modeling.Decoder {
			m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: 40, NPositions: 16, NEmbd: 32, NLayer: 4, NHead: 4}, 9, backend)
			if err != nil {
				t.Fatal(err)
			}
			return m.Decoder
		},
		"llama": func() *modeling.Decoder {
			m, err := llama.NewRandom(&llama.Config{VocabSize: 40, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 3,
				NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 16}, 9, backend)
			if err != nil {
				t.Fatal(err)
			}
			return m.Decoder
		},
	}
	for name, build := range models {
		t.Run(name, func(t *testing.T) {
			plain, _ := trainStep(t, build(), backend, false)
			ckpt, err := trainStep(t, build(), backend, true)
			if !supported {
				if err == nil || !strings.Contains(err.Error(), "no optimization barrier") {
					t.Errorf("%s lists no optimization barrier: got error %v, want a refusal that says so", xla.SpecOf(backend), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("matrix products: forward %d, step %d without checkpointing, %d with", plain.forwardDots, plain.stepDots, ckpt.stepDots)
			if again := ckpt.stepDots - plain.stepDots; again < plain.forwardDots-1 {
				t.Errorf("with checkpointing the step's graph has %d more matrix products than without; the forward's %d outside the LM head should all be done again",
					again, plain.forwardDots-1)
			}
			if math.Abs(plain.loss-ckpt.loss) > 1e-6 || math.Abs(plain.norm-ckpt.norm) > 1e-6*math.Max(1, plain.norm) {
				t.Errorf("loss %.8f grad norm %.8f without checkpointing, %.8f and %.8f with", plain.loss, plain.norm, ckpt.loss, ckpt.norm)
			}
			worst := 0.0
			for n, a := range plain.weights {
				for i := range a {
					worst = math.Max(worst, math.Abs(float64(a[i]-ckpt.weights[n][i])))
				}
			}
			if worst > 1e-6 {
				t.Errorf("gradients differ by up to %g with checkpointing", worst)
			}
		})
	}
}

// trainStep takes one SGD step on d at learning rate 1, with or without
// gradient checkpointing; the error is SetGradientCheckpointing's.
func trainStep(t *testing.T, d *modeling.Decoder, backend compute.Backend, checkpointing bool) (*stepRun, error) {
	t.Helper()
	var graphs []*Graph // the graphs the loss is built in: the step's, then the forward's
	loss := CausalLMLoss(d)
	record := func(g *Graph, batch []*Node) *Node { graphs = append(graphs, g); return loss(g, batch) }
	tr, err := NewTrainer(d.Params(), backend, record, SGD{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetGradientCheckpointing(checkpointing); err != nil {
		return nil, err
	}
	ids := make([]int32, 2*12)
	for i := range ids {
		ids[i] = int32((7*i + 3) % 40)
	}
	x := tensors.FromFlatDataAndDimensions(ids, 2, 12)
	y := tensors.FromFlatDataAndDimensions(append(ids[1:], 0), 2, 12)
	r := &stepRun{weights: map[string][]float32{}}
	if r.loss, r.norm, err = tr.Step(1, x, y); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Eval(x, y); err != nil {
		t.Fatal(err)
	}
	if len(graphs) != 2 {
		t.Fatalf("the loss was built in %d graphs, want 2 (the step's and the forward's)", len(graphs))
	}
	r.stepDots, r.forwardDots = count(graphs[0], NodeTypeDotGeneral), count(graphs[1], NodeTypeDotGeneral)
	set, err := d.Params().Weights()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range set.Names() {
		v, _ := set.Get(n)
		r.weights[n] = tensors.MustCopyFlatData[float32](v)
	}
	return r, nil
}

// count returns the number of nodes of type typ in g.
func count(g *Graph, typ NodeType) int {
	n := 0
	for _, node := range g.Nodes() {
		if node.Type() == typ {
			n++
		}
	}
	return n
}
