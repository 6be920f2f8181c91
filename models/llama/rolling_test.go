package llama

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/internal/shardtest"
)

// TestRollingCacheMistral decodes Mistral (window 3) past 4× its window
// through a cache of 3 slots a layer and checks the forward pass's logits
// (see decodetest.CheckRolling).
func TestRollingCacheMistral(t *testing.T) {
	decodetest.CheckRolling(t, load(t, "mistral", "model").Decoder)
}

// TestShardedRollingCache is TestRollingCacheMistral with the model split
// tensor-parallel over a 2×2 mesh of host devices, whose step graph writes
// the rings on the devices.
func TestShardedRollingCache(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	m, err := Load(filepath.Join(golden.Dir("mistral"), "model"), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Params().Shard(shardtest.Layouts4[3].Sharding(t, b)); err != nil {
		t.Fatal(err)
	}
	decodetest.CheckRolling(t, m.Decoder)
}

// BenchmarkRollingCache decodes 4× the window on a Mistral-shaped model with
// a small window (random weights: 4 layers of 512, 8 heads and 2 key/value
// heads of 64, window 128; batch 4, a prefill of 8 tokens, then one token a
// step up to 512), once through the rolling cache and once through the full
// one, and reports the cache's bytes and the time per token of the single
// steps, for docs/benchmarks.md. TRUSTFORMERS_BENCH_BACKEND picks the engine:
//
//	TRUSTFORMERS_BENCH_BACKEND=xla:cpu go test -run - -bench RollingCache -benchtime 1x ./models/llama/
func BenchmarkRollingCache(b *testing.B) {
	backend, _ := golden.BenchBackend(b)
	const window, batch, prefill = 128, 4, 8
	w := window
	cfg := &Config{ModelType: "mistral", VocabSize: 1024, HiddenSize: 512, IntermediateSize: 1024, NumHiddenLayers: 4,
		NumAttentionHeads: 8, NumKeyValueHeads: 2, MaxPositionEmbeddings: 4 * window, SlidingWindow: &w}
	m, err := NewRandom(cfg, 1, backend)
	if err != nil {
		b.Fatal(err)
	}
	rows := func(t int) [][]int32 {
		ids := make([][]int32, batch)
		for i := range ids {
			ids[i] = make([]int32, t)
			for j := range ids[i] {
				ids[i][j] = int32((i*131 + j*17 + 3) % cfg.VocabSize)
			}
		}
		return ids
	}
	for _, full := range []bool{false, true} {
		b.Run(map[bool]string{false: "rolling", true: "full"}[full], func(b *testing.B) {
			m.FullCache = full
			for range b.N {
				c, err := m.NewCache(batch, 4*window)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Step(c, rows(prefill), nil); err != nil {
					b.Fatal(err)
				}
				if _, err := m.Step(c, rows(1), nil); err != nil { // compiles the single step
					b.Fatal(err)
				}
				start := time.Now()
				for c.Len < c.MaxLen {
					if _, err := m.Step(c, rows(1), nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/1e3/float64(4*window-prefill-1), "ms/token")
				b.ReportMetric(float64(c.Bytes()), "cache-bytes")
				c.Free()
			}
		})
	}
}
