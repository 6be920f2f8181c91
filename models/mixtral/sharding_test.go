package mixtral

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// TestShardedMatchesOneDevice runs Mixtral with its experts split over the
// mesh's model axis (expert parallelism, with the attention split
// Megatron-style) on four host devices, {model: 4} and {data: 2, model: 2},
// and fully sharded over {data: 2, model: 2}; its logits, full and
// KV-cache, equal one device's, and each device holds its share of the
// experts.
func TestShardedMatchesOneDevice(t *testing.T) {
	g := golden.Load(t, "mixtral")
	ids := golden.IDs(t, g, "input_ids")
	ids = append(ids, ids...)
	layouts := []shardtest.Layout{shardtest.Layouts4[2], shardtest.Layouts4[3], shardtest.Layouts4[4]}
	shardtest.CheckDecoder(t, func(b compute.Backend) (*modeling.Decoder, error) {
		m, err := Load(filepath.Join(golden.Dir("mixtral"), "model"), b)
		if err != nil {
			return nil, err
		}
		return m.Decoder, nil
	}, ids, 3, layouts...)
	b := shardtest.HostDevices(t, 4)
	m, err := Load(filepath.Join(golden.Dir("mixtral"), "model"), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Params().Shard(shardtest.Layouts4[2].Sharding(t, b)); err != nil {
		t.Fatal(err)
	}
	for _, pl := range m.Params().Placements() {
		if pl.Role != modeling.ExpertParallel {
			continue
		}
		if pl.Spec != `("model", None, None)` {
			t.Errorf("%s: spec %s, want the experts split over model", pl.Name, pl.Spec)
		}
		for dev := range 4 {
			if want := [2]int{2 * dev, 2*dev + 2}; pl.Slices[dev][0] != want {
				t.Errorf("%s: device %d holds experts %v, want %v", pl.Name, dev, pl.Slices[dev][0], want)
			}
		}
	}
}

// Experts that do not divide over the model axis are an error naming the
// weight.
func TestShardedExpertsMustDivide(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	cfg, err := ReadConfig(filepath.Join(golden.Dir("mixtral"), "model"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.NumLocalExperts = 6
	m, err := NewRandom(cfg, 1, b)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Params().Shard(shardtest.Layouts4[2].Sharding(t, b))
	if err == nil || !strings.Contains(err.Error(), "experts.down_proj") || !strings.Contains(err.Error(), "experts are divided") {
		t.Errorf("6 experts over 4 devices: err = %v", err)
	}
}
