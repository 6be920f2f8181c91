package llama

import (
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// TestShardedMatchesOneDevice runs LLaMA 2 (grouped-query attention, untied
// head) sharded over four host devices under every layout, and Llama 3
// (tied head, one key/value head) and Mistral (sliding window) fully
// sharded and tensor-parallel over a 2×2 mesh (what differs in them is not
// what sharding touches), and compares their logits, full and KV-cache, with
// one device's.
func TestShardedMatchesOneDevice(t *testing.T) {
	some := []shardtest.Layout{shardtest.Layouts4[1], shardtest.Layouts4[3]}
	for _, family := range []string{"llama", "llama3", "mistral"} {
		layouts := some
		if family == "llama" {
			layouts = shardtest.Layouts4
		}
		t.Run(family, func(t *testing.T) {
			g := golden.Load(t, family)
			ids := golden.IDs(t, g, "input_ids")
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
