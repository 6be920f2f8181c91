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
// head), Llama 3 (tied head, one key/value head) and Mistral (sliding
// window) sharded over four host devices under every strategy and compares
// their logits, full and KV-cache, with one device's.
func TestShardedMatchesOneDevice(t *testing.T) {
	for _, family := range []string{"llama", "llama3", "mistral"} {
		t.Run(family, func(t *testing.T) {
			g := golden.Load(t, family)
			ids := golden.IDs(t, g, "input_ids")
			for len(ids) < 4 {
				ids = append(ids, ids[len(ids)%len(ids)])
			}
			shardtest.CheckDecoder(t, func(b compute.Backend) (*modeling.Decoder, error) {
				m, err := Load(filepath.Join(golden.Dir(family), "model"), b)
				if err != nil {
					return nil, err
				}
				return m.Decoder, nil
			}, ids[:4], 3)
		})
	}
}
