package qwen

import (
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// TestShardedMatchesOneDevice runs the Qwen3 golden with biases on all four
// projections, per-head q/k norms, a tied head, one key/value head and
// sliding layers sharded over four host devices under every layout, and
// Qwen2 (q/k/v biases, two key/value heads) fully sharded and
// tensor-parallel over a 2×2 mesh, and compares their logits, full and
// KV-cache, with one device's: the biases split with their projections'
// outputs, the norms stay whole.
func TestShardedMatchesOneDevice(t *testing.T) {
	for family, layouts := range map[string][]shardtest.Layout{
		"qwen3_tied": shardtest.Layouts4,
		"qwen2":      {shardtest.Layouts4[1], shardtest.Layouts4[3]},
	} {
		t.Run(family, func(t *testing.T) {
			ids := golden.IDs(t, golden.Load(t, family), "input_ids")
			for len(ids) < 4 {
				ids = append(ids, ids[0])
			}
			shardtest.CheckDecoder(t, func(b compute.Backend) (*modeling.Decoder, error) {
				m, err := Load(filepath.Join(golden.Dir(family), "model"), b)
				if err != nil {
					return nil, err
				}
				return m.Decoder, nil
			}, ids[:4], 3, layouts...)
		})
	}
}
