package gpt2

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// TestShardedMatchesOneDevice runs GPT-2 sharded over four host devices
// under every strategy and compares its logits, full and KV-cache, with one
// device's.
func TestShardedMatchesOneDevice(t *testing.T) {
	g := golden.Load(t, "gpt2")
	ids := golden.IDs(t, g, "input_ids")
	ids = append(ids, ids...) // a batch the data axis divides
	for len(ids) < 4 {
		ids = append(ids, ids[0])
	}
	shardtest.CheckDecoder(t, func(b compute.Backend) (*modeling.Decoder, error) {
		m, err := Load(filepath.Join(golden.Dir("gpt2"), "model"), b)
		if err != nil {
			return nil, err
		}
		return m.Decoder, nil
	}, ids[:4], 3)
}

// TestShardedLayoutErrors checks the errors of a layout that cannot be: a mesh
// with more devices than the backend, a tensor-parallel axis that does not
// divide a weight, a strategy whose axis the mesh lacks. Each names what is
// wrong, and a failed Shard leaves the model working on one device.
func TestShardedLayoutErrors(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	if _, err := xla.NewMesh(b, xla.MeshAxis{Name: xla.AxisData, Size: 8}); err == nil ||
		!strings.Contains(err.Error(), "needs 8 devices") || !strings.Contains(err.Error(), "has 4") {
		t.Errorf("mesh of 8 devices on 4: err = %v", err)
	}
	m, err := Load(filepath.Join(golden.Dir("gpt2"), "model"), b)
	if err != nil {
		t.Fatal(err)
	}
	mesh3, err := xla.NewMesh(b, xla.MeshAxis{Name: xla.AxisModel, Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	tp3, err := modeling.NewSharding(mesh3, modeling.TensorParallel)
	if err != nil {
		t.Fatal(err)
	}
	// n_embd 32 does not divide by 3: the first row-parallel projection says so.
	err = m.Params().Shard(tp3)
	if err == nil || !strings.Contains(err.Error(), `weight "h.0.attn.c_proj.weight"`) || !strings.Contains(err.Error(), "3 devices") {
		t.Errorf("tensor parallel over 3 devices: err = %v", err)
	}
	if m.Params().Sharding() != nil {
		t.Errorf("a failed Shard left the weights laid out as %s", m.Params().Sharding())
	}
	ids := [][]int32{{1, 2, 3}}
	if _, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{}); err != nil {
		t.Errorf("forward after a failed Shard: %v", err)
	}
	if _, err := modeling.NewSharding(mesh3, modeling.DataParallel); err == nil || !strings.Contains(err.Error(), `no "data" axis`) {
		t.Errorf("data parallel on a mesh without a data axis: err = %v", err)
	}
	if _, err := modeling.ParseStrategy("pipeline"); err == nil || !strings.Contains(err.Error(), "data, fsdp, tensor, zero1 or zero2") {
		t.Errorf("unknown strategy: err = %v", err)
	}
}

// TestShardedPlacements checks what Placements reports under tensor
// parallelism over {data: 2, model: 2}: a column-parallel weight's rows and
// a row-parallel weight's columns split over the model axis, the same on
// both data rows, a norm whole everywhere.
func TestShardedPlacements(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	m, err := Load(filepath.Join(golden.Dir("gpt2"), "model"), b)
	if err != nil {
		t.Fatal(err)
	}
	l := shardtest.Layout{Strategy: modeling.TensorParallel, Axes: []xla.MeshAxis{{Name: xla.AxisData, Size: 2}, {Name: xla.AxisModel, Size: 2}}}
	if err := m.Params().Shard(l.Sharding(t, b)); err != nil {
		t.Fatal(err)
	}
	got := map[string]modeling.Placement{}
	for _, pl := range m.Params().Placements() {
		got[pl.Name] = pl
	}
	for _, tc := range []struct {
		name, spec string
		slices     [4]string
	}{
		{"h.0.mlp.c_fc.weight", `("model", None)`, [4]string{"[0:64, 0:32]", "[64:128, 0:32]", "[0:64, 0:32]", "[64:128, 0:32]"}},
		{"h.0.attn.c_proj.weight", `(None, "model")`, [4]string{"[0:32, 0:16]", "[0:32, 16:32]", "[0:32, 0:16]", "[0:32, 16:32]"}},
		{"ln_f.weight", `(None)`, [4]string{"[0:32]", "[0:32]", "[0:32]", "[0:32]"}},
	} {
		pl := got[tc.name]
		if pl.Spec != tc.spec {
			t.Errorf("%s: spec %s, want %s", tc.name, pl.Spec, tc.spec)
		}
		for dev, want := range tc.slices {
			if s := pl.SliceText(dev); s != want {
				t.Errorf("%s on device %d: %s, want %s", tc.name, dev, s, want)
			}
		}
	}
	if s := got["h.0.mlp.c_fc.weight"].Share(1); s != 0.5 {
		t.Errorf("c_fc share on device 1 = %v, want 0.5", s)
	}
}
