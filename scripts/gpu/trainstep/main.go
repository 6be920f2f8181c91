// Command trainstep times training steps of a GPT-2 language model with
// random weights on one backend: AdamW on random token batches, the
// causal-LM loss of training.CausalLMLoss. It prints one line per step (the
// first includes compiling the step) and a JSON summary, so that a machine
// without a Go toolchain can run it from the pack scripts/gpu/build.sh makes.
//
// Usage:
//
//	trainstep [-backend xla:cuda] [-model 124m|tiny] [-batch 8] [-seq 128] [-steps 6]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// configs are the model shapes -model names: GPT-2 124M's, and a tiny one
// that a CPU runs in seconds (the run script's dry run).
var configs = map[string]gpt2.Config{
	"124m": {VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12},
	"tiny": {VocabSize: 512, NPositions: 128, NEmbd: 64, NLayer: 2, NHead: 4},
}

// summary is the JSON line trainstep ends with.
type summary struct {
	Backend      string    `json:"backend"`
	Model        string    `json:"model"`
	Batch        int       `json:"batch"`
	Seq          int       `json:"seq"`
	FirstStepS   float64   `json:"first_step_s"`
	MedianStepMS float64   `json:"median_step_ms"`
	TokensPerS   float64   `json:"tokens_per_s"`
	Losses       []float64 `json:"losses"`
}

func main() {
	backendSpec := flag.String("backend", "", "backend spec (default: TRUSTFORMERS_BACKEND, else the default choice)")
	model := flag.String("model", "124m", "model shape: 124m (GPT-2 124M) or tiny")
	batch := flag.Int("batch", 8, "sequences per step")
	seq := flag.Int("seq", 128, "tokens per sequence")
	steps := flag.Int("steps", 6, "steps to run (the first compiles)")
	flag.Parse()
	if err := run(*backendSpec, *model, *batch, *seq, *steps); err != nil {
		fmt.Fprintln(os.Stderr, "trainstep:", err)
		os.Exit(1)
	}
}

func run(spec, model string, batch, seq, steps int) error {
	cfg, ok := configs[model]
	if !ok {
		return fmt.Errorf("-model %q: want 124m or tiny", model)
	}
	if batch < 1 || seq < 2 || seq > cfg.NPositions || steps < 2 {
		return fmt.Errorf("-batch %d -seq %d -steps %d: want batch ≥ 1, 2 ≤ seq ≤ %d, steps ≥ 2", batch, seq, steps, cfg.NPositions)
	}
	backend, err := xla.New(spec)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	m, err := gpt2.NewRandom(&cfg, 1, backend)
	if err != nil {
		return err
	}
	tr, err := training.NewTrainer(m.Params(), backend, training.CausalLMLoss(m.Decoder),
		&training.AdamW{Beta1: 0.9, Beta2: 0.95, Epsilon: 1e-8, WeightDecay: 0.1}, 1.0)
	if err != nil {
		return err
	}
	s := summary{Backend: xla.SpecOf(backend), Model: model, Batch: batch, Seq: seq}
	rng := rand.New(rand.NewPCG(1, 2))
	var times []float64
	for i := range steps {
		x, y := randomBatch(rng, batch, seq, cfg.VocabSize)
		start := time.Now()
		loss, norm, err := tr.Step(3e-4, x, y)
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		took := time.Since(start).Seconds()
		fmt.Printf("step %d  loss %.4f  grad norm %.3f  %.1f ms\n", i, loss, norm, 1000*took)
		s.Losses = append(s.Losses, loss)
		if i == 0 {
			s.FirstStepS = took
		} else {
			times = append(times, took)
		}
	}
	sort.Float64s(times)
	s.MedianStepMS = 1000 * times[len(times)/2]
	s.TokensPerS = float64(batch*seq) / times[len(times)/2]
	return json.NewEncoder(os.Stdout).Encode(s)
}

// randomBatch returns inputs and next-token targets [batch, seq] drawn
// from one random stream of tokens per row.
func randomBatch(rng *rand.Rand, batch, seq, vocab int) (x, y *tensors.Tensor) {
	xs := make([]int32, batch*seq)
	ys := make([]int32, batch*seq)
	for b := range batch {
		row := make([]int32, seq+1)
		for i := range row {
			row[i] = int32(rng.IntN(vocab))
		}
		copy(xs[b*seq:], row[:seq])
		copy(ys[b*seq:], row[1:])
	}
	return tensors.FromFlatDataAndDimensions(xs, batch, seq), tensors.FromFlatDataAndDimensions(ys, batch, seq)
}
