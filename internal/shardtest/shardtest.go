// Package shardtest checks, for any model family, that a model sharded over
// several host devices of XLA's CPU plugin computes what it computes on one
// device: forward passes and KV-cache decoding under every strategy.
package shardtest

import (
	"fmt"
	"os"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Tolerance is the largest absolute difference accepted between a sharded
// and a single-device run in float32 (the partial sums of split products
// are added in another order).
const Tolerance = 1e-5

// HostDevices returns XLA's CPU backend presenting n host devices
// ("xla:cpu,devices=n"), finalized when tb ends. Without the plugin the
// test is skipped, or failed after `make setup` (TRUSTFORMERS_REQUIRE_SETUP).
func HostDevices(tb testing.TB, n int) compute.Backend {
	tb.Helper()
	spec := fmt.Sprintf("xla:cpu,devices=%d", n)
	b, err := xla.New(spec)
	if err != nil {
		if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
			tb.Fatalf("%s after `make setup`: %v", spec, err)
		}
		tb.Skipf("%s unavailable (run `make setup`, which installs XLA's CPU plugin): %v", spec, err)
	}
	tb.Cleanup(b.Finalize)
	return b
}

// Layout is one strategy on one mesh shape.
type Layout struct {
	Strategy modeling.Strategy
	Axes     []xla.MeshAxis
}

// String returns "tensor over {data: 2, model: 2}".
func (l Layout) String() string {
	s := l.Strategy.String() + " over {"
	for i, a := range l.Axes {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s: %d", a.Name, a.Size)
	}
	return s + "}"
}

// Layouts4 are the layouts tested on four devices: each strategy on a 1-D
// mesh, and tensor parallelism and full sharding on a 2×2 mesh.
var Layouts4 = []Layout{
	{modeling.DataParallel, []xla.MeshAxis{{Name: xla.AxisData, Size: 4}}},
	{modeling.FullyShard, []xla.MeshAxis{{Name: xla.AxisData, Size: 4}}},
	{modeling.TensorParallel, []xla.MeshAxis{{Name: xla.AxisModel, Size: 4}}},
	{modeling.TensorParallel, []xla.MeshAxis{{Name: xla.AxisData, Size: 2}, {Name: xla.AxisModel, Size: 2}}},
	{modeling.FullyShard, []xla.MeshAxis{{Name: xla.AxisData, Size: 2}, {Name: xla.AxisModel, Size: 2}}},
}

// Sharding makes l's mesh from backend's devices and returns the sharding.
func (l Layout) Sharding(tb testing.TB, backend compute.Backend) *modeling.Sharding {
	tb.Helper()
	mesh, err := xla.NewMesh(backend, l.Axes...)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := modeling.NewSharding(mesh, l.Strategy)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// CheckDecoder loads a decoder-only model on a backend with four host
// devices (load is the family's loader) once unsharded and once per layout
// (Layouts4 when none are given), and checks that its logits over ids (full
// forward, and the KV-cache steps after a prefix) equal the unsharded
// copy's to Tolerance.
func CheckDecoder(t *testing.T, load func(compute.Backend) (*modeling.Decoder, error), ids [][]int32, prefix int, layouts ...Layout) {
	t.Helper()
	b := HostDevices(t, 4)
	one, err := load(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := one.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantSteps := decodetest.StepThrough(t, one, ids, prefix)
	whole, err := one.Params().DeviceBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(layouts) == 0 {
		layouts = Layouts4
	}
	for _, l := range layouts {
		t.Run(l.String(), func(t *testing.T) {
			d, err := load(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Params().Shard(l.Sharding(t, b)); err != nil {
				t.Fatal(err)
			}
			CheckBytes(t, d.Params(), b, l, whole[0])
			got, err := d.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			Compare(t, "forward logits", got.Logits, want.Logits)
			Compare(t, "KV-cache step logits", decodetest.StepThrough(t, d, ids, prefix), wantSteps)
		})
	}
}

// CheckBytes checks the bytes of weights each device holds under l against
// total, the bytes of the whole model on one device: all of it with data
// parallelism; 1/N of it, within 10%, fully sharded over N devices; with
// tensor parallelism over a model axis of N devices, 1/N plus the norms,
// biases and position tables that stay whole (at most 15% of the model
// more, for the test models).
func CheckBytes(t *testing.T, p *modeling.Params, b compute.Backend, l Layout, total int64) {
	t.Helper()
	per, err := p.DeviceBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	split := 1.0
	for _, a := range l.Axes {
		if l.Strategy == modeling.FullyShard || l.Strategy == modeling.TensorParallel && a.Name == xla.AxisModel {
			split *= float64(a.Size)
		}
	}
	for dev, n := range per {
		ratio := float64(n) / float64(total)
		var ok bool
		switch l.Strategy {
		case modeling.DataParallel:
			ok = n == total
		case modeling.FullyShard:
			ok = ratio >= 1/split && ratio <= 1.1/split
		default:
			ok = ratio >= 1/split && ratio <= 1/split+0.15
		}
		if !ok {
			t.Errorf("%s: device %d holds %d bytes of %d (%.3f of the model, want about 1/%g)", l, dev, n, total, ratio, split)
		}
	}
	t.Logf("%s: bytes per device %v of %d", l, per, total)
}

// Compare fails t when got and want differ by more than Tolerance.
func Compare(t *testing.T, what string, got, want *tensors.Tensor) {
	t.Helper()
	d, at, err := golden.MaxAbsDiff(got, want)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !(d <= Tolerance) {
		t.Errorf("%s: max |sharded - one device| = %.3g at flat index %d, tolerance %.0g", what, d, at, Tolerance)
	}
}
