package training

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Gradient checkpointing recomputes each block's activations in the
// backward pass and gives the gradients it would without: the same loss,
// gradient norm and gradients (to 1e-6), for GPT-2 and LLaMA. One plain SGD
// step at learning rate 1 makes the weights' change the gradient itself
// (AdamW's first step would turn a near-zero gradient into ±lr).
func TestGradientCheckpointingKeepsTheGradients(t *testing.T) {
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
			step := func(checkpointing bool) (loss, norm float64, w map[string][]float32, err error) {
				d := build()
				tr, err := NewTrainer(d.Params(), backend, CausalLMLoss(d), SGD{}, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := tr.SetGradientCheckpointing(checkpointing); err != nil {
					return 0, 0, nil, err
				}
				ids := make([]int32, 2*12)
				for i := range ids {
					ids[i] = int32((7*i + 3) % 40)
				}
				x := tensors.FromFlatDataAndDimensions(ids, 2, 12)
				y := tensors.FromFlatDataAndDimensions(append(ids[1:], 0), 2, 12)
				if loss, norm, err = tr.Step(1, x, y); err != nil {
					t.Fatal(err)
				}
				set, err := d.Params().Weights()
				if err != nil {
					t.Fatal(err)
				}
				w = map[string][]float32{}
				for _, n := range set.Names() {
					v, _ := set.Get(n)
					w[n] = tensors.MustCopyFlatData[float32](v)
				}
				return loss, norm, w, nil
			}
			l0, n0, w0, _ := step(false)
			l1, n1, w1, err := step(true)
			if !supported {
				if err == nil || !strings.Contains(err.Error(), "no optimization barrier") {
					t.Errorf("%s lists no optimization barrier: got error %v, want a refusal that says so", xla.SpecOf(backend), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(l0-l1) > 1e-6 || math.Abs(n0-n1) > 1e-6*math.Max(1, n0) {
				t.Errorf("loss %.8f grad norm %.8f without checkpointing, %.8f and %.8f with", l0, n0, l1, n1)
			}
			worst := 0.0
			for n, a := range w0 {
				for i := range a {
					worst = math.Max(worst, math.Abs(float64(a[i]-w1[n][i])))
				}
			}
			if worst > 1e-6 {
				t.Errorf("gradients differ by up to %g with checkpointing", worst)
			}
		})
	}
}
