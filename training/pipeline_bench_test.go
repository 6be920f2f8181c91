package training

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/xla"
)

// BenchmarkPipeline measures pipeline steps of nanoGPT's Shakespeare
// model shape (4 blocks, 128 wide, context 64) on a batch of 16 rows over
// four host devices: the step time (median), each schedule's mean bubble
// fraction and the micro-batches stage 0 keeps in flight, against one
// device's Trainer.Step on the same batch (docs/sharding.md):
//
//	go test -run - -bench Pipeline -benchtime 8x ./training/
func BenchmarkPipeline(b *testing.B) {
	backend := shardtest.HostDevices(b, 4)
	cfg := &gpt2.Config{VocabSize: 65, NPositions: 64, NEmbd: 128, NLayer: 4, NHead: 4}
	ids, targets := benchBatch(16, 64, 65)
	b.Run("one-device", func(b *testing.B) {
		m, err := gpt2.NewRandom(cfg, 1, backend)
		if err != nil {
			b.Fatal(err)
		}
		tr, err := NewTrainer(m.Params(), backend, CausalLMLoss(m.Decoder), pipeAdamW, 1)
		if err != nil {
			b.Fatal(err)
		}
		var times []time.Duration
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			if _, _, err := tr.Step(1e-3, ids, targets); err != nil {
				b.Fatal(err)
			}
			if i > 0 { // the first step compiles
				times = append(times, time.Since(t0))
			}
		}
		b.ReportMetric(median(times), "ms/step")
	})
	cases := []struct {
		axes  []xla.MeshAxis
		micro int
	}{
		{[]xla.MeshAxis{{Name: xla.AxisStage, Size: 2}}, 8},
		{[]xla.MeshAxis{{Name: xla.AxisStage, Size: 4}}, 4},
		{[]xla.MeshAxis{{Name: xla.AxisStage, Size: 4}}, 8},
		{[]xla.MeshAxis{{Name: xla.AxisStage, Size: 2}, {Name: xla.AxisData, Size: 2}}, 8},
	}
	for _, c := range cases {
		for _, sched := range []PipeSchedule{GPipe, OneFOneB} {
			mesh, err := xla.NewMesh(backend, c.axes...)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s/micro=%d", mesh, sched, c.micro), func(b *testing.B) {
				benchPipeline(b, backend, cfg, mesh, PipeOptions{MicroBatches: c.micro, Schedule: sched}, ids, targets)
			})
		}
	}
}

// benchPipeline takes b.N pipeline steps (the first compiles, and is not
// counted) and reports the median step, the mean bubble and stage 0's
// micro-batches in flight.
func benchPipeline(b *testing.B, backend compute.Backend, cfg *gpt2.Config, mesh *xla.Mesh, o PipeOptions, ids, targets *tensors.Tensor) {
	m, err := gpt2.NewRandom(cfg, 1, backend)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPipeline(m.Decoder, mesh, pipeAdamW, 1, o)
	if err != nil {
		b.Fatal(err)
	}
	var steps, transfers []time.Duration
	var bubble float64
	for i := 0; b.Loop(); i++ {
		if _, _, err := p.Step(1e-3, ids, targets); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			continue
		}
		tl := p.Timeline()
		steps, transfers = append(steps, tl.Step), append(transfers, tl.TransferTime/time.Duration(max(1, tl.Transfers)))
		bubble += tl.MeanBubble()
	}
	tl := p.Timeline()
	b.ReportMetric(median(steps), "ms/step")
	b.ReportMetric(bubble/float64(max(1, len(steps))), "bubble")
	b.ReportMetric(IdealBubble(tl.Stages, tl.MicroBatches), "ideal-bubble")
	b.ReportMetric(float64(tl.InFlight(0)), "in-flight")
	b.ReportMetric(float64(median(transfers))*1e3, "µs/transfer")
	b.ReportMetric(float64(tl.ActivationBytes), "bytes/transfer")
}

// median returns the median of ds in milliseconds (0 for none).
func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// benchBatch returns a random batch of rows sequences of t tokens below
// vocab, and their next tokens.
func benchBatch(rows, t, vocab int) (*tensors.Tensor, *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids, targets := make([]int32, rows*t), make([]int32, rows*t)
	for i := range ids {
		ids[i], targets[i] = int32(rng.IntN(vocab)), int32(rng.IntN(vocab))
	}
	return tensors.FromFlatDataAndDimensions(ids, rows, t), tensors.FromFlatDataAndDimensions(targets, rows, t)
}

// BenchmarkPipeTransfer moves one micro-batch's residual stream (2×64×128
// float32, 64 KiB) between two host devices back and forth: with PJRT's
// device-to-device copy, as a Pipeline does, and through the host (copied
// out to Go memory, then into a new device buffer).
func BenchmarkPipeTransfer(b *testing.B) {
	backend := shardtest.HostDevices(b, 2)
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 64, 128))
	if err := x.MaterializeOnDevice(backend, false, 0); err != nil {
		b.Fatal(err)
	}
	b.Run("device-to-device", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := x.MaterializeOnDevice(backend, false, compute.DeviceNum((i+1)%2)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := x.LocalClone(); err != nil { // waits for the last copy
			b.Fatal(err)
		}
	})
	b.Run("through-host", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			local, err := x.LocalClone()
			if err != nil {
				b.Fatal(err)
			}
			if err := local.MaterializeOnDevice(backend, false, compute.DeviceNum((i+1)%2)); err != nil {
				b.Fatal(err)
			}
			_ = x.FinalizeAll()
			x = local
		}
	})
}
