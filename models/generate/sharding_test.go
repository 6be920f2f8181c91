package generate

import (
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// TestShardedTensorParallelGreedyEqualsOneDevice generates 64 tokens greedily from
// the trained stories260K checkpoint on one device and tensor-parallel over
// four host devices (and over a data × model mesh, a batch of two prompts):
// the same ids.
func TestShardedTensorParallelGreedyEqualsOneDevice(t *testing.T) {
	path := assets.Require(t, assets.Stories260K)
	b := shardtest.HostDevices(t, 4)
	one, err := llama.LoadLlama2C(path, b)
	if err != nil {
		t.Fatal(err)
	}
	prompts := [][]int32{{1}, {1, 403, 407}}
	opts := Options{MaxNewTokens: 64}
	want, err := Run(one, prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, axes := range [][]xla.MeshAxis{
		{{Name: xla.AxisModel, Size: 4}},
		{{Name: xla.AxisData, Size: 2}, {Name: xla.AxisModel, Size: 2}},
	} {
		l := shardtest.Layout{Strategy: modeling.TensorParallel, Axes: axes}
		t.Run(l.String(), func(t *testing.T) {
			m, err := llama.LoadLlama2C(path, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Params().Shard(l.Sharding(t, b)); err != nil {
				t.Fatal(err)
			}
			got, err := Run(m, prompts, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !slices.Equal(got[i].IDs, want[i].IDs) {
					t.Errorf("prompt %d: tensor-parallel greedy ids\n%v\none device\n%v", i, got[i].IDs, want[i].IDs)
				}
			}
			t.Logf("prompt 0: %d identical ids", len(want[0].IDs))
		})
	}
}
