package training

import (
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// pipeFamilies make the same tiny decoders on every call: GPT-2 (two
// blocks, its head tied to the embedding, which the first and last stages
// then share) and LLaMA (four blocks, grouped-query attention, untied head).
var pipeFamilies = map[string]func(compute.Backend) (*modeling.Decoder, error){
	"gpt2": func(b compute.Backend) (*modeling.Decoder, error) {
		m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: 64, NPositions: 16, NEmbd: 32, NLayer: 2, NHead: 4}, 7, b)
		if err != nil {
			return nil, err
		}
		return m.Decoder, nil
	},
	"llama": func(b compute.Backend) (*modeling.Decoder, error) {
		m, err := llama.NewRandom(&llama.Config{VocabSize: 64, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 4,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 16}, 7, b)
		if err != nil {
			return nil, err
		}
		return m.Decoder, nil
	},
}

// pipeAdamW is the optimizer of the pipeline tests and their one-device
// references.
var pipeAdamW = AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}

// TestPipelineMatchesOneDevice trains each family for three AdamW steps
// (clipping at 1) on one device over the whole batch of 8 rows, and as a
// pipeline over four host devices cut into 4 micro-batches: GPipe and 1F1B,
// on {stage: 2} and on {stage: 2, data: 2}. Every loss and the final
// weights equal the one-device run's to 1e-5, and each schedule keeps the
// micro-batches in flight it should.
func TestPipelineMatchesOneDevice(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	bs := batches(3)
	layouts := [][]xla.MeshAxis{
		{{Name: xla.AxisStage, Size: 2}},
		{{Name: xla.AxisStage, Size: 2}, {Name: xla.AxisData, Size: 2}},
	}
	for family, build := range pipeFamilies {
		t.Run(family, func(t *testing.T) {
			one, err := build(b)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(one.Params(), b, decoderLoss(one), pipeAdamW, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := train(t, tr, bs, 0)
			for _, axes := range layouts {
				for _, sched := range []PipeSchedule{GPipe, OneFOneB} {
					mesh, err := xla.NewMesh(b, axes...)
					if err != nil {
						t.Fatal(err)
					}
					t.Run(sched.String()+" over "+mesh.String(), func(t *testing.T) {
						d, err := build(b)
						if err != nil {
							t.Fatal(err)
						}
						p, err := NewPipeline(d, mesh, pipeAdamW, 1, PipeOptions{MicroBatches: 4, Schedule: sched})
						if err != nil {
							t.Fatal(err)
						}
						compareLosses(t, "pipeline", trainPipeline(t, p, bs), want)
						if err := p.WriteBack(); err != nil {
							t.Fatal(err)
						}
						compareWeights(t, "pipeline", d.Params(), one.Params())
						checkInFlight(t, p.Timeline())
					})
				}
			}
		})
	}
}

// decoderLoss is the cross-entropy of d's logits, the loss a Pipeline
// trains.
func decoderLoss(d *modeling.Decoder) LossFunc {
	return func(g *Graph, batch []*Node) *Node {
		dims := batch[0].Shape().Dimensions
		logits, _, _ := d.ForwardGraph(batch[0], Iota(g, shapes.Make(dtypes.Int32, dims...), 1), nil)
		return CrossEntropy(logits, batch[1])
	}
}

// trainPipeline takes one pipeline step per batch on the schedule of
// train, and returns the losses.
func trainPipeline(t *testing.T, p *Pipeline, bs [][2]*tensors.Tensor) []float64 {
	t.Helper()
	s := Schedule{LR: 1e-2, MinLR: 1e-3, WarmupIters: 2, DecayIters: 10}
	var losses []float64
	for i, b := range bs {
		loss, _, err := p.Step(s.At(i), b[0], b[1])
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	return losses
}

// checkInFlight checks the last step's timeline: every pass of every
// micro-batch on every stage, and at most M (GPipe) or S-s (1F1B)
// micro-batches in flight on stage s.
func checkInFlight(t *testing.T, tl PipeTimeline) {
	t.Helper()
	if want := 2 * tl.Stages * tl.MicroBatches; len(tl.Events) != want {
		t.Errorf("%d events, want %d", len(tl.Events), want)
	}
	for s := range tl.Stages {
		want := tl.MicroBatches
		if tl.Schedule == OneFOneB {
			want = min(tl.Stages-s, tl.MicroBatches)
		}
		if got := tl.InFlight(s); got != want {
			t.Errorf("%s: stage %d held %d micro-batches in flight, want %d", tl.Schedule, s, got, want)
		}
		t.Logf("%s stage %d: busy %v of %v, bubble %.2f, in flight %d", tl.Schedule, s, tl.Busy(s), tl.Pipeline, tl.Bubble(s), tl.InFlight(s))
	}
	t.Logf("step %v; %d transfers, %d bytes, %v", tl.Step, tl.Transfers, tl.TransferBytes, tl.TransferTime)
}
