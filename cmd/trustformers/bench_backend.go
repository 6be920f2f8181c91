package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/quant"
	"github.com/trustformers/trustformers-go/xla"
)

// gpt2Small is GPT-2 124M's shape.
func gpt2Small() *gpt2.Config {
	return &gpt2.Config{VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12}
}

// quantBenchFigures are the figures measured for quantized models, with
// quantBenchReps repetitions after the warm-up: NF4 decodes at ~1 token/s
// here (see docs/benchmarks.md), so more would take many minutes.
const (
	quantBenchFigures = "decode b1,peak rss"
	quantBenchReps    = 2
)

// fusedSuffix marks a --quant scheme measured on the fused route
// ("int8-fused": quant.NewFusedBackend, then quant.Apply with
// quant.Fused), which decodes fast enough for batch 8 too
// (fusedBenchFigures).
const (
	fusedSuffix       = "-fused"
	fusedBenchFigures = "decode b1,decode b8,peak rss"
)

// fusedSchemes are the schemes make bench measures on the fused route,
// on onnx:cpu.
var fusedSchemes = []string{"int8" + fusedSuffix, "int4" + fusedSuffix}

// benchBackend measures the figures only names on backend spec; with a
// quantization scheme, the GPT-2 model is quantized (quant.Apply, GPT-2's
// block linear layers, group 64) before anything is measured, and the peak
// RSS is reset after quantizing, so that it is the peak while decoding.
func benchBackend(spec string, reps int, only, scheme string, stderr io.Writer) ([]figure, error) {
	backend, err := xla.New(spec)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	b := &backendBench{backend: backend, engine: xla.SpecOf(backend), reps: reps, only: only, stderr: stderr}
	if strings.HasSuffix(scheme, fusedSuffix) {
		// The model must live on the fused backend from its creation.
		if b.backend, err = quant.NewFusedBackend(backend, quant.FusedConfig{}); err != nil {
			return nil, err
		}
	}
	var peak float64 // MB
	if wants(only, "prefill 1x128") || wants(only, "decode b1") || wants(only, "decode b8") || wants(only, "first token") {
		if err := b.gpt2(scheme); err != nil {
			return nil, err
		}
		// GPT-2's own footprint: from loading its checkpoint (or, quantized,
		// from after quantizing) to the end of its figures.
		peak = peakRSSMB()
	}
	if wants(only, "bert 32x128") {
		if err := b.bert(); err != nil {
			return nil, err
		}
	}
	if peak == 0 {
		peak = peakRSSMB()
	}
	b.figs = append(b.figs, figure{Name: "peak rss", Engine: b.engine, Value: peak, Unit: "MB"})
	return b.figs, nil
}

// backendBench is one backend's measurements, in this process.
type backendBench struct {
	backend compute.Backend
	engine  string // the backend's spec, and the scheme of a quantized model
	reps    int
	only    string
	stderr  io.Writer
	figs    []figure
}

// add records a figure from its samples and prints it.
func (b *backendBench) add(name, unit string, samples []float64) {
	b.figs = append(b.figs, figure{Name: name, Engine: b.engine, Value: median(samples), Unit: unit, Samples: samples})
	fmt.Fprintf(b.stderr, "  %-14s %-9s %10.2f %s\n", name, b.engine, median(samples), unit)
}

// benchPrompt returns b rows of n token ids of GPT-2's vocabulary, the
// same on every engine.
func benchPrompt(b, n int) [][]int32 { return promptIDs(b, n, 50257) }

// promptIDs returns b rows of n token ids below vocab: row i, position j
// holds (i·977 + j·31 + 7) mod vocab, as scripts/reference/measure.py's
// prompt_ids does for PyTorch and llama.cpp.
func promptIDs(b, n, vocab int) [][]int32 {
	rows := make([][]int32, b)
	for i := range rows {
		rows[i] = make([]int32, n)
		for j := range rows[i] {
			rows[i][j] = int32((i*977 + j*31 + 7) % vocab)
		}
	}
	return rows
}

// gpt2 measures GPT-2 124M's figures: first token, prefill and decoding.
func (b *backendBench) gpt2(scheme string) error {
	m, loadStart, err := b.loadGPT2(scheme)
	if err != nil {
		return err
	}
	if wants(b.only, "first token") {
		if _, err := generate.Generate(m, benchPrompt(1, 16)[0], generate.Options{MaxNewTokens: 1}); err != nil {
			return err
		}
		b.figs = append(b.figs, figure{Name: "first token", Engine: b.engine, Value: time.Since(loadStart).Seconds(), Unit: "s"})
		fmt.Fprintf(b.stderr, "  %-14s %-9s %10.2f s\n", "first token", b.engine, time.Since(loadStart).Seconds())
	}
	if wants(b.only, "prefill 1x128") {
		ids := benchPrompt(1, 128)
		s, err := timeIt(b.reps, func() error {
			out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
			if err == nil {
				_, err = out.Logits.ValueSafe()
			}
			return err
		})
		if err != nil {
			return err
		}
		for i := range s {
			s[i] *= 1000
		}
		b.add("prefill 1x128", "ms", s)
	}
	for _, batch := range []int{1, 8} {
		if err := b.decode(m, benchPrompt(batch, 16)); err != nil {
			return err
		}
	}
	return nil
}

// loadGPT2 returns GPT-2 124M with random weights, stored with scheme, and
// when its load started. In float32 it is saved to a folder first
// (untimed) and loaded from it, so that "first token" runs from loading a
// checkpoint to the first generated token: reading, laying out and moving
// the weights, compiling the graphs, prefill and one step. The peak RSS is
// reset where the measured part starts.
func (b *backendBench) loadGPT2(scheme string) (*gpt2.Model, time.Time, error) {
	m, err := gpt2.NewRandom(gpt2Small(), 1, b.backend)
	if err != nil {
		return nil, time.Time{}, err
	}
	loadStart := time.Now()
	if scheme == "" {
		dir, err := os.MkdirTemp("", "trustformers-bench-")
		if err != nil {
			return nil, loadStart, err
		}
		defer os.RemoveAll(dir)
		if err := m.Save(dir); err != nil {
			return nil, loadStart, err
		}
		m.Params().Free() // left to the finalizers, it slowed ONNX Runtime's prefill by a quarter
		m = nil
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS() // the peak figure is that of loading and running the model
		loadStart = time.Now()
		m, err = gpt2.Load(dir, b.backend)
		return m, loadStart, err
	}
	if scheme == "bf16" {
		err = bf16Weights(m.Params())
	} else {
		name, fused := strings.CutSuffix(scheme, fusedSuffix)
		cfg := quant.Config{Route: quant.Dequantize}
		if fused {
			cfg.Route = quant.Fused
		}
		if cfg.Scheme, err = quant.ParseScheme(name); err == nil {
			_, err = quant.Apply(m.Params(), cfg)
		}
	}
	if err != nil {
		return nil, loadStart, err
	}
	b.engine += " " + scheme
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	return m, loadStart, nil
}

// decode measures decoding 64 tokens after prompts (a row per sequence);
// at batch 1 it keeps the greedy tokens, which engines must agree on.
func (b *backendBench) decode(m models.CausalLM, prompts [][]int32) error {
	batch := len(prompts)
	name := fmt.Sprintf("decode b%d", batch)
	if !wants(b.only, name) {
		return nil
	}
	var rates []float64
	var first []int32
	_, err := timeIt(b.reps, func() error {
		start := time.Now()
		outs, err := generate.Run(m, prompts, generate.Options{MaxNewTokens: 64})
		if err != nil {
			return err
		}
		n := 0
		for _, o := range outs {
			n += len(o.IDs)
		}
		rates = append(rates, float64(n)/time.Since(start).Seconds())
		first = outs[0].IDs
		return nil
	})
	if err != nil {
		return err
	}
	b.add(name, "tok/s", rates[1:]) // the first run was the warm-up
	if batch == 1 {
		b.figs[len(b.figs)-1].IDs = first
	}
	return nil
}

// bert measures a BERT-base encoder over 32 sequences of 128 tokens.
func (b *backendBench) bert() error {
	cfg := &bert.Config{VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, MaxPositionEmbeddings: 512, TypeVocabSize: 2}
	m, err := bert.NewRandom(cfg, bert.Base, 1, b.backend)
	if err != nil {
		return err
	}
	ids := benchPrompt(32, 128)
	for _, r := range ids {
		for j := range r {
			r[j] %= 30522
		}
	}
	s, err := timeIt(b.reps, func() error {
		out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
		if err == nil {
			_, err = out.Sequence.ValueSafe()
		}
		return err
	})
	if err != nil {
		return err
	}
	for i := range s {
		s[i] *= 1000
	}
	b.add("bert 32x128", "ms", s)
	return nil
}

// ggufTypes are the GGUF tensor types llama.cpp decodes in make bench.
var ggufTypes = []string{"f32", "f16", "q8_0", "q4_0"}

// benchGGUF writes the GPT-2 model the figures measure (gpt2.NewRandom,
// seed 1) as dir/gpt2-<type>.gguf for every ggufTypes, with GPT-2's
// tokenizer (the test assets' encoder.json and vocab.bpe) in the metadata.
func benchGGUF(dir string) error {
	backend, err := xla.New("go")
	if err != nil {
		return err
	}
	defer backend.Finalize()
	m, err := gpt2.NewRandom(gpt2Small(), 1, backend)
	if err != nil {
		return err
	}
	enc, err := assets.Path(assets.GPT2Encoder)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(filepath.Dir(enc))
	if err != nil {
		return err
	}
	meta, err := tok.GGUFMetadata()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, typ := range ggufTypes {
		if err := m.SaveGGUF(filepath.Join(dir, "gpt2-"+typ+".gguf"), typ, meta...); err != nil {
			return err
		}
	}
	return nil
}

// bf16Weights stores every matrix weight of params (the projections and the
// tied embedding) as bfloat16, halving the bytes a decoding step reads, and
// makes every graph convert it back to float32 where it is used: what a
// bfloat16 checkpoint costs an engine that multiplies in float32.
func bf16Weights(params *modeling.Params) error {
	names := params.NamesWithRoles(modeling.ColumnParallel, modeling.RowParallel, modeling.LMHead)
	if err := params.JoinRows(); err != nil {
		return err
	}
	for _, name := range names {
		v := params.Variable(name)
		value, err := v.Value()
		if err != nil {
			return fmt.Errorf("weight %q: %w", name, err)
		}
		w, err := tensors.CopyFlatData[float32](value)
		if err != nil {
			return fmt.Errorf("weight %q: %w", name, err)
		}
		dims := v.Shape().Dimensions
		if err := params.Delete(name); err != nil {
			return err
		}
		if err := params.Set(name, tensors.FromFlatDataAndDimensions(bfloat16.FromFloat32s(w...), dims...)); err != nil {
			return err
		}
		if err := params.SetTransform(name, func(_ *graph.Graph, w *graph.Node) *graph.Node {
			return graph.ConvertDType(w, dtypes.Float32)
		}); err != nil {
			return err
		}
	}
	return nil
}

// resetPeakRSS resets this process's peak resident set size to its current
// size (Linux: writing 5 to /proc/self/clear_refs).
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMB reads this process's peak resident set size (VmHWM).
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024
		}
	}
	return 0
}
