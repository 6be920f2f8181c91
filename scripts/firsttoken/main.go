// Command firsttoken times the phases of GPT-2 124M's load-to-first-token
// path on one backend, in a fresh process as a notebook cell is: creating
// the backend, opening the safetensors file, laying the weights out and
// moving them to the device (gpt2.New), allocating the KV cache, and the
// prompt's first step (building the graph, compiling it, running it), then
// the same step again (running alone: the difference is the graph's
// building and compiling), the first one-token step and a second one.
// docs/benchmarks.md has its figures.
//
// Usage:
//
//	go run ./scripts/firsttoken [-backend go|onnx:cpu|xla:cpu] [-dir build/firsttoken] [-cpuprofile FILE]
//
// The random GPT-2 124M checkpoint (498 MB) is written to -dir by the
// first run, untimed, and read by the later ones.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/xla"
)

func main() {
	spec := flag.String("backend", "", "backend spec (default: TRUSTFORMERS_BACKEND, else the default choice)")
	dir := flag.String("dir", filepath.Join("build", "firsttoken"), "folder of the random GPT-2 124M checkpoint (written when missing)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed phases to this file")
	flag.Parse()
	if err := run(*spec, *dir, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "firsttoken:", err)
		os.Exit(1)
	}
}

// phases prints each phase's time as it ends.
type phases struct{ last, start time.Time }

func (p *phases) lap(what string) {
	now := time.Now()
	fmt.Printf("%-34s %7.3f s\n", what, now.Sub(p.last).Seconds())
	p.last = now
}

func run(spec, dir, cpuProfile string) error {
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		if err := writeCheckpoint(dir); err != nil {
			return err
		}
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	p := &phases{last: time.Now(), start: time.Now()}
	backend, err := xla.New(spec)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	fmt.Printf("backend %s\n", xla.SpecOf(backend))
	p.lap("backend")
	cfg, err := gpt2.ReadConfig(dir)
	if err != nil {
		return err
	}
	set, err := weights.ReadDir(dir)
	if err != nil {
		return err
	}
	p.lap("open safetensors (mapped)")
	m, err := gpt2.New(cfg, set, backend)
	if err != nil {
		return err
	}
	p.lap("read, lay out, move weights")
	prompt := make([]int32, 16)
	for j := range prompt {
		prompt[j] = int32((j*31 + 7) % cfg.VocabSize)
	}
	// The cache of generate.Run for a 16-token prompt and 64 new tokens.
	newCache := func() (*cacheSteps, error) {
		c, err := m.NewCache(1, 128)
		return &cacheSteps{m: m, c: c}, err
	}
	c, err := newCache()
	if err != nil {
		return err
	}
	p.lap("KV cache")
	if err := c.step(prompt); err != nil {
		return err
	}
	p.lap("prefill 16: build, compile, run")
	fmt.Printf("%-34s %7.3f s\n", "= FIRST TOKEN", time.Since(p.start).Seconds())
	if err := c.step([]int32{5}); err != nil {
		return err
	}
	p.lap("step 1: build, compile, run")
	fmt.Printf("%-34s %7.3f s\n", "= SECOND TOKEN", time.Since(p.start).Seconds())
	if err := c.step([]int32{6}); err != nil {
		return err
	}
	p.lap("step 1 again: run")
	c2, err := newCache()
	if err != nil {
		return err
	}
	p.last = time.Now()
	if err := c2.step(prompt); err != nil {
		return err
	}
	p.lap("prefill 16 again: run")
	return nil
}

// cacheSteps runs decoding steps of m over one cache.
type cacheSteps struct {
	m *gpt2.Model
	c *modeling.Cache
}

// step feeds ids to the model and waits for the logits.
func (s *cacheSteps) step(ids []int32) error {
	logits, err := s.m.Step(s.c, [][]int32{ids}, nil)
	if err != nil {
		return err
	}
	_, err = logits.ValueSafe()
	logits.FinalizeAll()
	return err
}

// writeCheckpoint saves a random GPT-2 124M (seed 1) to dir.
func writeCheckpoint(dir string) error {
	backend, err := xla.New("go")
	if err != nil {
		return err
	}
	defer backend.Finalize()
	m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12}, 1, backend)
	if err != nil {
		return err
	}
	fmt.Printf("writing a random GPT-2 124M to %s (untimed)\n", dir)
	return m.Save(dir)
}
