package gpt2

import (
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/modeling"
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
