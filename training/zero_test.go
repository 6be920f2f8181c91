package training

import (
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// footprintAfterAccumulation takes one accumulated step (two micro-batches
// of four rows), which leaves the gradient accumulators on the devices, and
// returns the bytes of device 0 by what they hold.
func footprintAfterAccumulation(t *testing.T, m *modeling.Params, tr *Trainer, b compute.Backend, batch [2]*tensors.Tensor) modeling.Footprint {
	t.Helper()
	var micro [][]*tensors.Tensor
	for _, rows := range [][2]int{{0, 4}, {4, 8}} {
		ids := tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[int32](batch[0])[rows[0]*16:rows[1]*16], 4, 16)
		targets := tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[int32](batch[1])[rows[0]*16:rows[1]*16], 4, 16)
		micro = append(micro, []*tensors.Tensor{ids, targets})
	}
	if _, _, err := tr.StepAccumulated(1e-3, micro); err != nil {
		t.Fatal(err)
	}
	f, err := m.Footprint(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestShardedZeROMatchesOneDevice trains the same model on the same global
// batches on one device and, over four host devices, with ZeRO-1 and
// ZeRO-2 (and ZeRO-2 on a {data: 2, model: 2} mesh): every loss and the
// final weights equal the one-device run's. The bytes each device holds,
// read from its buffers after an accumulated step (whose accumulators are
// the gradient buffers that outlast a program), are checked against the
// data-parallel run's: the same weights; the same gradients under ZeRO-1
// and a quarter under ZeRO-2; a quarter of the AdamW moments under both.
func TestShardedZeROMatchesOneDevice(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	bs := batches(4)
	extra := batches(5)[4]
	one, trOne := smallGPT(t, b)
	want := train(t, trOne, bs, 0)

	m, dp := smallGPT(t, b)
	shardTrainer(t, dp, b, modeling.DataParallel, xla.MeshAxis{Name: xla.AxisData, Size: 4})
	train(t, dp, bs, 0)
	replicated := footprintAfterAccumulation(t, m.Params(), dp, b, extra)

	data4 := []xla.MeshAxis{{Name: xla.AxisData, Size: 4}}
	for _, c := range []struct {
		l         shardtest.Layout
		gradShare float64 // of the data-parallel gradient bytes, per device
	}{
		{shardtest.Layout{Strategy: modeling.ZeRO1, Axes: data4}, 1},
		{shardtest.Layout{Strategy: modeling.ZeRO2, Axes: data4}, 0.25},
		{shardtest.Layout{Strategy: modeling.ZeRO2, Axes: []xla.MeshAxis{{Name: xla.AxisData, Size: 2}, {Name: xla.AxisModel, Size: 2}}}, 0},
	} {
		t.Run(c.l.String(), func(t *testing.T) {
			m, tr := smallGPT(t, b)
			shardTrainer(t, tr, b, c.l.Strategy, c.l.Axes...)
			compareLosses(t, c.l.String(), train(t, tr, bs, 0), want)
			compareWeights(t, c.l.String(), m.Params(), one.Params())
			if c.gradShare == 0 {
				return // the 2-D mesh splits weights over "model": the bytes are not data parallelism's
			}
			got := footprintAfterAccumulation(t, m.Params(), tr, b, extra)
			checkShare(t, "weights", got.Weights, replicated.Weights, 1)
			checkShare(t, "gradients", got.Gradients, replicated.Gradients, c.gradShare)
			checkShare(t, "optimizer state", got.OptimizerState, replicated.OptimizerState, 0.25)
			t.Logf("bytes on each device: weights %d, gradients %d, optimizer state %d (data parallel: %d, %d, %d)",
				got.Weights[0], got.Gradients[0], got.OptimizerState[0],
				replicated.Weights[0], replicated.Gradients[0], replicated.OptimizerState[0])
		})
	}
}

// checkShare checks that every device holds share of what each device of
// the data-parallel run holds (up to 10% more where a split pads).
func checkShare(t *testing.T, what string, got, replicated []int64, share float64) {
	t.Helper()
	if replicated[0] == 0 {
		t.Fatalf("%s: the data-parallel run holds no bytes on device 0", what)
	}
	for dev := range got {
		r := float64(got[dev]) / float64(replicated[dev])
		if r < share || r > share*1.1 {
			t.Errorf("%s on device %d: %d bytes, data parallel %d: ratio %.3f, want %.3f", what, dev, got[dev], replicated[dev], r, share)
		}
	}
}
