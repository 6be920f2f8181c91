package training

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// smallGPT returns a 2-layer GPT-2 with the same random weights on every
// call, and a trainer of it on backend (AdamW, clipping at 1).
func smallGPT(t *testing.T, backend compute.Backend) (*gpt2.Model, *Trainer) {
	return smallGPTWithDropout(t, backend, 0)
}

// smallGPTWithDropout is smallGPT with its three dropout rates at rate.
func smallGPTWithDropout(t *testing.T, backend compute.Backend, rate float64) (*gpt2.Model, *Trainer) {
	t.Helper()
	cfg := &gpt2.Config{VocabSize: 64, NPositions: 16, NEmbd: 32, NLayer: 2, NHead: 4,
		ResidPdrop: rate, EmbdPdrop: rate, AttnPdrop: rate}
	m, err := gpt2.NewRandom(cfg, 7, backend)
	if err != nil {
		t.Fatal(err)
	}
	loss := func(g *Graph, batch []*Node) *Node {
		ids, targets := batch[0], batch[1]
		dims := ids.Shape().Dimensions
		logits, _, _ := m.ForwardGraph(ids, Iota(g, shapes.Make(dtypes.Int32, dims...), 1), nil)
		return CrossEntropy(logits, targets)
	}
	tr, err := NewTrainer(m.Params(), backend, loss, AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m, tr
}

// batches returns n batches of 8 random sequences of 16 tokens and their
// next tokens, the same on every call.
func batches(n int) [][2]*tensors.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][2]*tensors.Tensor, n)
	for i := range out {
		ids, targets := make([]int32, 8*16), make([]int32, 8*16)
		for j := range ids {
			ids[j], targets[j] = int32(rng.IntN(64)), int32(rng.IntN(64))
		}
		out[i] = [2]*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, 8, 16), tensors.FromFlatDataAndDimensions(targets, 8, 16)}
	}
	return out
}

// train takes one step per batch, from step `from` of the schedule, and
// returns the losses.
func train(t *testing.T, tr *Trainer, bs [][2]*tensors.Tensor, from int) []float64 {
	t.Helper()
	s := Schedule{LR: 1e-2, MinLR: 1e-3, WarmupIters: 2, DecayIters: 10}
	var losses []float64
	for i, b := range bs {
		loss, _, err := tr.Step(s.At(from+i), b[0], b[1])
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	return losses
}

func shardTrainer(t *testing.T, tr *Trainer, backend compute.Backend, strategy modeling.Strategy, axes ...xla.MeshAxis) {
	t.Helper()
	l := shardtest.Layout{Strategy: strategy, Axes: axes}
	if err := tr.Shard(l.Sharding(t, backend)); err != nil {
		t.Fatal(err)
	}
}

func compareLosses(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Abs(got[i]-want[i]) > shardtest.Tolerance {
			t.Errorf("%s: loss of step %d = %.7f, one device gives %.7f", what, i, got[i], want[i])
		}
	}
}

func compareWeights(t *testing.T, what string, got, want *modeling.Params) {
	t.Helper()
	gw, err := got.Weights()
	if err != nil {
		t.Fatal(err)
	}
	ww, err := want.Weights()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ww.Names() {
		g, _ := gw.Get(name)
		w, _ := ww.Get(name)
		shardtest.Compare(t, what+": weight "+name, g, w)
	}
}

// TestShardedTrainingMatchesOneDevice trains the same model from the same
// weights on the same global batches on one device and sharded over four
// host devices (data parallel, fully sharded, tensor parallel, and data ×
// tensor parallel), and compares every loss and the final weights. Fully
// sharded, each device holds a quarter of the weights and AdamW moments
// that the data-parallel run holds on each device.
func TestShardedTrainingMatchesOneDevice(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	bs := batches(4)
	one, trOne := smallGPT(t, b)
	want := train(t, trOne, bs, 0)
	perDevice := map[modeling.Strategy]int64{}
	for _, l := range []shardtest.Layout{shardtest.Layouts4[0], shardtest.Layouts4[1], shardtest.Layouts4[2], shardtest.Layouts4[3]} {
		t.Run(l.String(), func(t *testing.T) {
			m, tr := smallGPT(t, b)
			shardTrainer(t, tr, b, l.Strategy, l.Axes...)
			compareLosses(t, l.String(), train(t, tr, bs, 0), want)
			bytes, err := m.Params().DeviceBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			perDevice[l.Strategy] = max(perDevice[l.Strategy], bytes[0])
			compareWeights(t, l.String(), m.Params(), one.Params())
		})
	}
	dp, fsdp := perDevice[modeling.DataParallel], perDevice[modeling.FullyShard]
	if r := float64(fsdp) / float64(dp); r < 0.25 || r > 0.275 {
		t.Errorf("fully sharded: %d bytes of weights and optimizer state per device, data parallel %d: ratio %.3f, want about 1/4", fsdp, dp, r)
	}
	t.Logf("weights + AdamW moments per device: data parallel %d bytes, fully sharded %d (%.3f)", dp, fsdp, float64(fsdp)/float64(dp))
}

// TestShardedDropoutMatchesOneDevice trains with dropout 0.2 from the same
// dropout seed on one device and sharded over four: the masks come from one
// replicated random stream, so every loss matches the one-device run's and
// differs from a run without dropout.
func TestShardedDropoutMatchesOneDevice(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	bs := batches(4)
	run := func(rate float64, l *shardtest.Layout) []float64 {
		_, tr := smallGPTWithDropout(t, b, rate)
		if err := tr.SeedDropout(11); err != nil {
			t.Fatal(err)
		}
		if l != nil {
			shardTrainer(t, tr, b, l.Strategy, l.Axes...)
		}
		return train(t, tr, bs, 0)
	}
	want := run(0.2, nil)
	if without := run(0, nil); math.Abs(without[1]-want[1]) < 1e-4 {
		t.Fatalf("dropout 0.2 left the second loss at %.6f, the loss without dropout", want[1])
	}
	for _, l := range []shardtest.Layout{shardtest.Layouts4[0], shardtest.Layouts4[1]} {
		t.Run(l.String(), func(t *testing.T) {
			compareLosses(t, l.String()+" with dropout 0.2", run(0.2, &l), want)
		})
	}
}

// TestShardedRunResumesOnFewerDevices trains fully sharded on four devices,
// saves a checkpoint half way (gathered: an ordinary safetensors file), and
// resumes it fully sharded on two devices and unsharded on one: the losses
// after the resume are those of the uninterrupted four-device run.
func TestShardedRunResumesOnFewerDevices(t *testing.T) {
	b4 := shardtest.HostDevices(t, 4)
	bs := batches(8)
	_, tr := smallGPT(t, b4)
	shardTrainer(t, tr, b4, modeling.FullyShard, xla.MeshAxis{Name: xla.AxisData, Size: 4})
	want := train(t, tr, bs, 0)

	_, tr = smallGPT(t, b4)
	shardTrainer(t, tr, b4, modeling.FullyShard, xla.MeshAxis{Name: xla.AxisData, Size: 4})
	train(t, tr, bs[:4], 0)
	ckpt := filepath.Join(t.TempDir(), "step4.safetensors")
	if err := tr.SaveCheckpoint(ckpt, nil); err != nil {
		t.Fatal(err)
	}

	b2 := shardtest.HostDevices(t, 2)
	_, on2 := smallGPT(t, b2)
	shardTrainer(t, on2, b2, modeling.FullyShard, xla.MeshAxis{Name: xla.AxisData, Size: 2})
	if _, err := on2.LoadCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	compareLosses(t, "resumed on 2 devices", train(t, on2, bs[4:], 4), want[4:])

	_, on1 := smallGPT(t, b4) // not sharded: device 0 alone
	if _, err := on1.LoadCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	compareLosses(t, "resumed on 1 device", train(t, on1, bs[4:], 4), want[4:])
}

// TestShardedBatchMustDivide checks that a data-parallel step refuses a
// batch the data axis does not divide, naming the sizes.
func TestShardedBatchMustDivide(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	_, tr := smallGPT(t, b)
	shardTrainer(t, tr, b, modeling.DataParallel, xla.MeshAxis{Name: xla.AxisData, Size: 4})
	ids := tensors.FromFlatDataAndDimensions(make([]int32, 6*16), 6, 16)
	_, _, err := tr.Step(1e-3, ids, ids)
	if err == nil {
		t.Fatal("a batch of 6 rows on a data axis of 4 devices was accepted")
	}
	if want := "6 rows"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "4 devices") {
		t.Errorf("error %q does not name the batch and the devices", err)
	}
}
