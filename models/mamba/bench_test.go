package mamba

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// BenchmarkPrefill measures one forward pass over 1×T tokens (T = 64 and
// 512) with each scan mode, on the engine TRUSTFORMERS_BENCH_BACKEND names
// (default go), as docs/benchmarks.md ("Mamba's selective scan") reports
// it. The model has mamba-130m's layer shape (hidden 768, inner 1536,
// state 16, time-step rank 48, kernel 4), 2 layers and a vocabulary of
// 1,024, so that the mixers, not the head, take the time. "compile-s" is
// the first call (building and compiling the graph, and running it once).
//
//	TRUSTFORMERS_BENCH_BACKEND=xla:cpu go test -run - -bench Prefill -benchtime 5x ./models/mamba/
func BenchmarkPrefill(b *testing.B) {
	backend, spec := golden.BenchBackend(b)
	cfg := &Config{ModelType: "mamba", VocabSize: 1024, HiddenSize: 768, NumHiddenLayers: 2, StateSize: 16}
	m, err := NewRandom(cfg, 1, backend)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, t := range []int{64, 512} {
		ids := make([]int32, t)
		for i := range ids {
			ids[i] = rng.Int32N(int32(cfg.VocabSize))
		}
		for _, scan := range []modeling.ScanMode{modeling.ScanLoop, modeling.ScanUnrolled, modeling.ScanParallel} {
			b.Run(fmt.Sprintf("%s/T=%d/%v", spec, t, scan), func(b *testing.B) {
				if scan == modeling.ScanUnrolled && t > 128 && xla.CompilesWholePrograms(backend) {
					// XLA fuses the unrolled chain of steps into its consumers and
					// computes it again for each: 31 s a pass and 183 s to compile
					// at T=512 when measured.
					b.Skip("unrolled scan at T=512 on XLA: 31 s a pass, 183 s to compile (docs/benchmarks.md)")
				}
				m.Scan = scan
				batch := modeling.Batch{IDs: [][]int32{ids}}
				start := time.Now()
				if _, err := m.Forward(batch, modeling.ForwardOptions{}); err != nil {
					b.Fatal(err)
				}
				compile := time.Since(start)
				b.ResetTimer()
				for b.Loop() {
					out, err := m.Forward(batch, modeling.ForwardOptions{})
					if err != nil {
						b.Fatal(err)
					}
					out.Logits.FinalizeAll()
				}
				b.ReportMetric(compile.Seconds(), "compile-s")
			})
		}
	}
}
