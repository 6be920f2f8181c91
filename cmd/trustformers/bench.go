package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/quant"
	"github.com/trustformers/trustformers-go/xla"
)

func init() {
	commands["bench"] = command{"measure inference speed on every CPU backend beside PyTorch (make bench)", runBench}
}

// figure is one measurement: the median of the repetitions.
type figure struct {
	Name    string    `json:"figure"`
	Engine  string    `json:"engine"`
	Value   float64   `json:"value"`
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples,omitempty"`
	// IDs are the greedy tokens of decode b1's first row, for checking
	// that engines decoding the same model agree.
	IDs []int32 `json:"ids,omitempty"`
}

// Figures measured, in table order, with whether larger is better.
var benchFigures = []struct {
	name, unit string
	higher     bool
}{
	{"prefill 1x128", "ms", false},
	{"decode b1", "tok/s", true},
	{"decode b8", "tok/s", true},
	{"first token", "s", false},
	{"bert 32x128", "ms", false},
	{"peak rss", "MB", false},
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "[--compare [--out FILE]] | [--backend SPEC --json]", stderr)
	compare := fs.Bool("compare", false, "run every CPU backend present, PyTorch 2 + Hugging Face and llama.cpp, alternating, and print the table")
	out := fs.String("out", "", "with --compare: also write the table to this markdown file")
	backendSpec := fs.String("backend", "", "backend to measure (one process per backend)")
	reps := fs.Int("reps", 5, "repetitions per figure after a warm-up (the median is reported)")
	rounds := fs.Int("rounds", 1, "with --compare: times the whole alternation is repeated")
	only := fs.String("only", "", "comma-separated figures to measure (default all)")
	quantSchemes := fs.String("quant", "int8,int4,nf4", "with --compare: quantization schemes whose GPT-2 decode is measured too (\"\": none); "+
		"without: quantize the GPT-2 model with this one scheme")
	weightDType := fs.String("weights", "", "without --compare: store GPT-2's matrix weights as bf16 (converted to float32 in each graph) before measuring")
	ggufDir := fs.String("gguf", "", "write the GPT-2 model the figures use as GGUF files gpt2-{f32,f16,q8_0,q4_0}.gguf in this folder, with GPT-2's tokenizer, and exit")
	if err := fs.Parse(args); err != nil {
		return &lab.FlagError{Err: err}
	}
	if err := checkBenchFlags(*reps, *rounds, *only); err != nil {
		return err
	}
	if *ggufDir != "" {
		return benchGGUF(*ggufDir)
	}
	if *compare {
		return benchCompare(*reps, *rounds, *only, *quantSchemes, *out, stdout, stderr)
	}
	scheme := ""
	if isSet(fs, "quant") {
		scheme = *quantSchemes
	}
	if *weightDType != "" {
		if *weightDType != "bf16" {
			return usageErrorf("--weights %q: only bf16 is supported", *weightDType)
		}
		scheme = "bf16"
	}
	figs, err := benchBackend(*backendSpec, *reps, *only, scheme, stderr)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, f := range figs {
		enc.Encode(f)
	}
	return nil
}

// checkBenchFlags refuses repetitions or rounds below one and figure
// names that no figure has (which would measure nothing and succeed).
func checkBenchFlags(reps, rounds int, only string) error {
	if reps < 1 || rounds < 1 {
		return fmt.Errorf("--reps %d, --rounds %d: each must be at least 1", reps, rounds)
	}
	if only == "" {
		return nil
	}
	var names []string
	for _, f := range benchFigures {
		names = append(names, f.name)
	}
	for _, o := range strings.Split(only, ",") {
		if !slices.Contains(names, strings.TrimSpace(o)) {
			return fmt.Errorf("--only: no figure %q; the figures are %q", strings.TrimSpace(o), names)
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// timeIt runs fn once to warm up, then reps times, and returns the durations in seconds.
func timeIt(reps int, fn func() error) ([]float64, error) {
	if err := fn(); err != nil {
		return nil, err
	}
	var out []float64
	for range reps {
		start := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start).Seconds())
	}
	return out, nil
}

// gpt2Small is GPT-2 124M's shape.
func gpt2Small() *gpt2.Config {
	return &gpt2.Config{VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12}
}

func wants(only, name string) bool {
	if only == "" {
		return true
	}
	for _, o := range strings.Split(only, ",") {
		if strings.TrimSpace(o) == name {
			return true
		}
	}
	return false
}

// benchBackend measures every figure on one backend, in this process.
// isSet reports whether flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// quantBenchFigures are the figures measured for quantized models, with
// quantBenchReps repetitions after the warm-up: NF4 decodes at ~1 token/s
// here (see docs/benchmarks.md), so more would take many minutes.
const (
	quantBenchFigures = "decode b1,peak rss"
	quantBenchReps    = 2
)

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
	engine := xla.SpecOf(backend)
	var figs []figure
	add := func(name, unit string, samples []float64) {
		figs = append(figs, figure{Name: name, Engine: engine, Value: median(samples), Unit: unit, Samples: samples})
		fmt.Fprintf(stderr, "  %-14s %-9s %10.2f %s\n", name, engine, median(samples), unit)
	}
	prompt := func(b, n int) [][]int32 {
		rows := make([][]int32, b)
		for i := range rows {
			rows[i] = make([]int32, n)
			for j := range rows[i] {
				rows[i][j] = int32((i*977 + j*31 + 7) % 50257)
			}
		}
		return rows
	}

	var peak float64 // MB
	needGPT2 := wants(only, "prefill 1x128") || wants(only, "decode b1") || wants(only, "decode b8") || wants(only, "first token")
	if needGPT2 {
		m, err := gpt2.NewRandom(gpt2Small(), 1, backend)
		if err != nil {
			return nil, err
		}
		loadStart := time.Now()
		if scheme == "" {
			// From loading a checkpoint folder (written here, untimed) to the
			// first generated token: reading, laying out and moving the
			// weights, compiling the graphs, prefill and one step.
			dir, err := os.MkdirTemp("", "trustformers-bench-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			if err := m.Save(dir); err != nil {
				return nil, err
			}
			m.Params().Free() // left to the finalizers, it slowed ONNX Runtime's prefill by a quarter
			m = nil
			runtime.GC()
			debug.FreeOSMemory()
			resetPeakRSS() // the peak figure is that of loading and running the model
			loadStart = time.Now()
			if m, err = gpt2.Load(dir, backend); err != nil {
				return nil, err
			}
		}
		if scheme == "bf16" {
			if err := bf16Weights(m.Params()); err != nil {
				return nil, err
			}
		} else if scheme != "" {
			s, err := quant.ParseScheme(scheme)
			if err != nil {
				return nil, err
			}
			if _, err := quant.Apply(m.Params(), quant.Config{Scheme: s}); err != nil {
				return nil, err
			}
		}
		if scheme != "" {
			engine += " " + scheme
			runtime.GC()
			debug.FreeOSMemory()
			resetPeakRSS()
		}
		if wants(only, "first token") {
			if _, err := generate.Generate(m, prompt(1, 16)[0], generate.Options{MaxNewTokens: 1}); err != nil {
				return nil, err
			}
			figs = append(figs, figure{Name: "first token", Engine: engine, Value: time.Since(loadStart).Seconds(), Unit: "s"})
			fmt.Fprintf(stderr, "  %-14s %-9s %10.2f s\n", "first token", engine, time.Since(loadStart).Seconds())
		}
		if wants(only, "prefill 1x128") {
			ids := prompt(1, 128)
			s, err := timeIt(reps, func() error {
				out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
				if err == nil {
					_, err = out.Logits.ValueSafe()
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			for i := range s {
				s[i] *= 1000
			}
			add("prefill 1x128", "ms", s)
		}
		for _, b := range []int{1, 8} {
			name := fmt.Sprintf("decode b%d", b)
			if !wants(only, name) {
				continue
			}
			prompts := prompt(b, 16)
			var rates []float64
			var first []int32
			_, err := timeIt(reps, func() error {
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
				return nil, err
			}
			add(name, "tok/s", rates[1:]) // the first run was the warm-up
			if b == 1 {
				figs[len(figs)-1].IDs = first
			}
		}
		// GPT-2's own footprint: from loading its checkpoint (or, quantized,
		// from after quantizing) to the end of its figures.
		peak = peakRSSMB()
	}
	if wants(only, "bert 32x128") {
		cfg := &bert.Config{VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
			IntermediateSize: 3072, MaxPositionEmbeddings: 512, TypeVocabSize: 2}
		m, err := bert.NewRandom(cfg, bert.Base, 1, backend)
		if err != nil {
			return nil, err
		}
		ids := prompt(32, 128)
		for _, r := range ids {
			for j := range r {
				r[j] %= 30522
			}
		}
		s, err := timeIt(reps, func() error {
			out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
			if err == nil {
				_, err = out.Sequence.ValueSafe()
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		for i := range s {
			s[i] *= 1000
		}
		add("bert 32x128", "ms", s)
	}
	if peak == 0 {
		peak = peakRSSMB()
	}
	figs = append(figs, figure{Name: "peak rss", Engine: engine, Value: peak, Unit: "MB"})
	return figs, nil
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

// benchCompare runs this command once per CPU backend, PyTorch 2 with
// Hugging Face's classes at two threads and at one, and llama.cpp on the
// same GPT-2 exported as GGUF in F32, F16, Q8_0 and Q4_0, alternating, and
// prints (and optionally writes) the side-by-side table.
func benchCompare(reps, rounds int, only, quantSchemes, out string, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var backends []string
	if lib, _ := xla.FindONNXRuntime(); lib != "" {
		backends = append(backends, "onnx:cpu")
	}
	for _, p := range xla.FindPlugins() {
		if p.Name == "cpu" {
			backends = append(backends, "xla:cpu")
		}
	}
	backends = append(backends, "go")
	type run struct {
		label string
		cmd   []string
		env   []string
	}
	var runs []run
	for _, b := range backends {
		runs = append(runs, run{b, []string{self, "bench", "--backend", b, "--reps", fmt.Sprint(reps), "--only", only}, nil})
	}
	// Quantized GPT-2 decoding, each scheme on each backend.
	quantOnly := quantBenchFigures
	if only != "" {
		var keep []string
		for _, f := range strings.Split(quantBenchFigures, ",") {
			if wants(only, f) {
				keep = append(keep, f)
			}
		}
		quantOnly = strings.Join(keep, ",")
	}
	var quantLabels []string
	if quantOnly != "" {
		// bfloat16 weights on the engines that run bfloat16 (ONNX Runtime's CPU
		// provider does not convert them).
		for _, b := range backends {
			if b == "onnx:cpu" {
				continue
			}
			label := b + " bf16"
			quantLabels = append(quantLabels, label)
			runs = append(runs, run{label, []string{self, "bench", "--backend", b, "--weights", "bf16", "--reps", fmt.Sprint(min(reps, quantBenchReps)), "--only", quantOnly}, nil})
		}
	}
	if quantSchemes != "" && quantOnly != "" {
		for _, b := range backends {
			for _, sch := range strings.Split(quantSchemes, ",") {
				label := b + " " + sch
				quantLabels = append(quantLabels, label)
				runs = append(runs, run{label, []string{self, "bench", "--backend", b, "--quant", sch, "--reps", fmt.Sprint(min(reps, quantBenchReps)), "--only", quantOnly}, nil})
			}
		}
	}
	py := filepath.Join(".deps", "venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return fmt.Errorf("%s missing: run `make venv` (PyTorch 2, Transformers and llama-cpp-python, pinned)", py)
	}
	// PyTorch 2 + Hugging Face at both thread settings; the table takes the
	// better one per figure.
	script := filepath.Join("scripts", "reference", "bench.py")
	torchRuns := []string{"pytorch-2t", "pytorch-1t"}
	for i, label := range torchRuns {
		threads := fmt.Sprint(2 - i)
		runs = append(runs, run{label, []string{py, script, "--reps", fmt.Sprint(reps), "--only", only},
			[]string{"TORCH_THREADS=" + threads, "OMP_NUM_THREADS=" + threads}})
	}
	// llama.cpp decoding the same GPT-2, exported by `bench --gguf`.
	var cppLabels []string
	if cppOnly := llamaCppFigures(only); cppOnly != "" {
		dir, err := os.MkdirTemp("", "trustformers-bench-gguf-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		export := exec.Command(self, "bench", "--gguf", dir)
		export.Stdout, export.Stderr = stderr, stderr
		if err := export.Run(); err != nil {
			return fmt.Errorf("--gguf: %w", err)
		}
		for _, typ := range ggufTypes {
			label := "llama.cpp " + typ
			cppLabels = append(cppLabels, label)
			runs = append(runs, run{label, []string{py, filepath.Join("scripts", "reference", "bench_llamacpp.py"),
				"--model", filepath.Join(dir, "gpt2-"+typ+".gguf"), "--reps", fmt.Sprint(reps), "--only", cppOnly}, nil})
		}
	}
	results := map[string]map[string][]float64{} // label -> figure -> values over rounds
	greedyIDs := map[string][]int32{}            // label -> decode b1's tokens
	for round := range rounds {
		for _, r := range runs {
			fmt.Fprintf(stderr, "bench round %d: %s\n", round+1, r.label)
			cmd := exec.Command(r.cmd[0], r.cmd[1:]...)
			cmd.Env = append(os.Environ(), r.env...)
			var buf bytes.Buffer
			cmd.Stdout = &buf
			cmd.Stderr = stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", r.label, err)
			}
			dec := json.NewDecoder(&buf)
			for {
				var f figure
				if err := dec.Decode(&f); err != nil {
					break
				}
				if results[r.label] == nil {
					results[r.label] = map[string][]float64{}
				}
				results[r.label][f.Name] = append(results[r.label][f.Name], f.Value)
				if len(f.IDs) > 0 {
					greedyIDs[r.label] = f.IDs
				}
			}
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-14s %-14s %12s   %-24s %-20s %s\n", "figure", "engine", "value", "pytorch 2 + HF (best)", "pytorch (1 thread)", "ratio vs best")
	for _, fig := range benchFigures {
		// The better PyTorch setting for this figure.
		best, bestLabel := 0.0, ""
		for _, label := range torchRuns {
			if vals := results[label][fig.name]; len(vals) > 0 {
				if v := median(vals); bestLabel == "" || orient(v, best, fig.higher) > 1 {
					best, bestLabel = v, label
				}
			}
		}
		row := func(label, ref, ref1, note string) {
			vals := results[label][fig.name]
			if len(vals) == 0 {
				return
			}
			v := median(vals)
			ratio := "-"
			if bestLabel != "" {
				ratio = fmt.Sprintf("%.2fx", orient(v, best, fig.higher))
			}
			fmt.Fprintf(&table, "%-14s %-14s %9.1f %-5s  %-24s %-20s %s%s\n", fig.name, label, v, fig.unit, ref, ref1, ratio, note)
		}
		refStr, ref1Str := "-", "-"
		if bestLabel != "" {
			refStr = fmt.Sprintf("%.1f %s (%s)", best, fig.unit, strings.TrimPrefix(bestLabel, "pytorch-"))
		}
		if vals := results["pytorch-1t"][fig.name]; len(vals) > 0 {
			ref1Str = fmt.Sprintf("%.1f %s", median(vals), fig.unit)
		}
		for _, b := range backends {
			row(b, refStr, ref1Str, "")
		}
		for _, label := range quantLabels {
			note := ""
			if fp32 := results[strings.Fields(label)[0]][fig.name]; len(fp32) > 0 && len(results[label][fig.name]) > 0 {
				note = fmt.Sprintf(" (%.2fx fp32)", orient(median(results[label][fig.name]), median(fp32), fig.higher))
			}
			row(label, "", "", note)
		}
		for _, label := range cppLabels {
			note := ""
			if fig.name == "decode b1" {
				note = fmt.Sprintf(" (greedy tokens = go's: %d of %d)", samePrefix(greedyIDs[label], greedyIDs["go"]), len(greedyIDs["go"]))
			}
			row(label, "", "", note)
		}
	}
	fmt.Fprint(stdout, table.String())
	if out != "" {
		if err := writeBenchDoc(out, table.String(), reps, rounds); err != nil {
			return err
		}
	}
	return nil
}

// llamaCppFigures returns the figures of only that the llama.cpp rows
// measure (prefill, single-sequence decode, first token, peak RSS).
func llamaCppFigures(only string) string {
	var keep []string
	for _, f := range []string{"prefill 1x128", "decode b1", "first token"} {
		if wants(only, f) {
			keep = append(keep, f)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	return strings.Join(append(keep, "peak rss"), ",")
}

// samePrefix returns how many leading tokens a and b share.
func samePrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// orient returns v over ref when higher is better, else ref over v, so
// that above 1 always means better.
func orient(v, ref float64, higher bool) float64 {
	if higher {
		return v / ref
	}
	return ref / v
}

// writeBenchDoc replaces the generated section of the benchmarks document.
func writeBenchDoc(path, table string, reps, rounds int) error {
	const begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
	old, _ := os.ReadFile(path)
	model, _ := os.ReadFile("/proc/cpuinfo")
	cpu := "unknown CPU"
	for _, line := range strings.Split(string(model), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			break
		}
	}
	section := fmt.Sprintf("%s\nMeasured %s on %s, %d cores, %s; `make bench` (%d repetitions after a warm-up, median; %d round(s)). Higher is better for tok/s, lower for ms, s and MB; the ratio is each row over PyTorch 2 + Hugging Face at its better thread setting for that figure, oriented so that above 1 means faster or smaller.\n\n```text\n%s```\n%s",
		begin, time.Now().UTC().Format("2006-01-02"), cpu, runtime.NumCPU(), runtime.Version(), reps, rounds, table, end)
	text := string(old)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		text = "# Benchmarks\n\n" + section + "\n"
	} else {
		text = text[:i] + section + text[j+len(end):]
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
