package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/xla"
)

// fileBenchFigures are the figures measured on a real checkpoint's GGUF
// file, by our engines and by llama.cpp on the very same file.
const fileBenchFigures = "decode b1,decode b8,first token,peak rss"

// benchFile measures the real GGUF file at path on backend spec: the
// first token (from opening the file to the first generated token: reading,
// laying out and moving the weights, compiling, prefill and one step),
// decoding 64 tokens after 16-token prompts at batch 1 and 8, and the
// process's peak RSS. The prompts are filePrompts', which llama.cpp's side
// is given as ids.
func benchFile(spec, path, dtype string, reps int, only string, stderr io.Writer) ([]figure, error) {
	backend, err := xla.New(spec)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	prompts, err := filePrompts(path)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	b := &backendBench{backend: backend, engine: xla.SpecOf(backend) + " " + fileDType(dtype), reps: reps, only: only, stderr: stderr}
	start := time.Now()
	m, err := models.LoadCausalLM(path, backend, modeling.LoadOptions{DType: dtype})
	if err != nil {
		return nil, err
	}
	if wants(only, "first token") {
		if _, err := generate.Generate(m, prompts[0], generate.Options{MaxNewTokens: 1}); err != nil {
			return nil, err
		}
		b.figs = append(b.figs, figure{Name: "first token", Engine: b.engine, Value: time.Since(start).Seconds(), Unit: "s"})
		fmt.Fprintf(stderr, "  %-14s %-9s %10.2f s\n", "first token", b.engine, time.Since(start).Seconds())
	}
	for _, batch := range []int{1, 8} {
		if err := b.decode(m, prompts[:batch]); err != nil {
			return nil, err
		}
	}
	b.figs = append(b.figs, figure{Name: "peak rss", Engine: b.engine, Value: peakRSSMB(), Unit: "MB"})
	return b.figs, nil
}

// fileDType names a load precision in the table: "kept" for the file's
// own block types, else the precision.
func fileDType(dtype string) string {
	if dtype == "" || dtype == "auto" {
		return "kept"
	}
	return dtype
}

// benchSentences are the real-file prompts: text gives a language model's
// next tokens clear winners, so engines whose arithmetic differs slightly
// (llama.cpp quantizes activations) still agree on the greedy tokens.
var benchSentences = []string{
	"The history of the Roman Empire begins with the founding of the city of Rome, which legend places",
	"Photosynthesis is the process by which green plants and some other organisms use sunlight to make",
	"Once upon a time, in a small village at the edge of a great forest, there lived an old woodcutter",
	"The first step in learning to program is to write a small program that prints a greeting on the",
	"Water boils at one hundred degrees Celsius at sea level, but at higher altitudes it boils at a lower",
	"In the winter of that year, the river froze so hard that the children of the town could walk across",
	"A good recipe for bread needs only flour, water, salt and yeast, and the patience to let the dough",
	"The train left the station at seven in the morning and arrived in the capital just before noon, when",
}

// filePrompts returns benchSentences as ids of the GGUF file's own
// tokenizer, 16 each (the tokenizer's BOS first where it adds one).
func filePrompts(path string) ([][]int32, error) {
	tok, err := tokenizer.LoadGGUF(path)
	if err != nil {
		return nil, err
	}
	var rows [][]int32
	for _, s := range benchSentences {
		ids := tok.Encode(s)
		if len(ids) < 16 {
			return nil, fmt.Errorf("%s: the prompt %q is %d tokens, fewer than 16", path, s, len(ids))
		}
		rows = append(rows, ids[:16])
	}
	return rows, nil
}

// fileRows are one file's measurements: each engine's figures and decode
// b1's greedy tokens, llama.cpp's under the label "llama.cpp".
type fileRows struct {
	path      string
	labels    []string
	figures   map[string]map[string]float64
	greedyIDs map[string][]int32
}

// benchCompareFiles measures every file with each of our CPU engines (or
// those engines names) and
// with llama.cpp, each in its own process, and prints (and optionally
// writes into out's bench-files section) a table per file.
func benchCompareFiles(paths []string, engines string, reps int, out string, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	py := filepath.Join(".deps", "venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return fmt.Errorf("%s missing: run `make venv` (llama-cpp-python, pinned)", py)
	}
	var table strings.Builder
	for _, path := range paths {
		prompts, err := filePrompts(path)
		if err != nil {
			return err
		}
		promptJSON, err := json.Marshal(prompts)
		if err != nil {
			return err
		}
		rows := &fileRows{path: path, figures: map[string]map[string]float64{}, greedyIDs: map[string][]int32{}}
		specs := benchEngines()
		if engines != "" {
			specs = strings.Split(engines, ",")
		}
		for _, spec := range specs {
			for _, dtype := range []string{"auto", "float32"} {
				cmd := []string{self, "bench", "--backend", spec, "--model", path, "--dtype", dtype, "--reps", fmt.Sprint(reps)}
				if err := rows.run(spec+" "+fileDType(dtype), cmd, stderr); err != nil {
					return err
				}
			}
		}
		cmd := []string{py, filepath.Join("scripts", "reference", "bench_llamacpp.py"), "--model", path, "--engine", "llama.cpp",
			"--prompts", string(promptJSON), "--reps", fmt.Sprint(reps), "--only", fileBenchFigures}
		if err := rows.run("llama.cpp", cmd, stderr); err != nil {
			return err
		}
		rows.write(&table)
	}
	fmt.Fprint(stdout, table.String())
	if out == "" {
		return nil
	}
	return writeBenchSection(out, "bench-files", fmt.Sprintf("`make bench` (`trustformers bench --compare-files`, %d repetitions after a warm-up, median)", reps), table.String())
}

// benchEngines returns our CPU engines present on this machine.
func benchEngines() []string {
	var engines []string
	if lib, _ := xla.FindONNXRuntime(); lib != "" {
		engines = append(engines, "onnx:cpu")
	}
	for _, pl := range xla.FindPlugins() {
		if pl.Name == "cpu" && !slices.Contains(engines, "xla:cpu") { // a plugin can be found in two folders
			engines = append(engines, "xla:cpu")
		}
	}
	return append(engines, "go")
}

// run runs one process of the comparison and keeps its figures under label.
func (r *fileRows) run(label string, cmd []string, stderr io.Writer) error {
	fmt.Fprintf(stderr, "bench %s: %s\n", filepath.Base(r.path), label)
	c := exec.Command(cmd[0], cmd[1:]...)
	var buf bytes.Buffer
	c.Stdout, c.Stderr = &buf, stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s on %s: %w", label, r.path, err)
	}
	r.labels = append(r.labels, label)
	r.figures[label] = map[string]float64{}
	dec := json.NewDecoder(&buf)
	for {
		var f figure
		if err := dec.Decode(&f); err != nil {
			break
		}
		r.figures[label][f.Name] = f.Value
		if len(f.IDs) > 0 {
			r.greedyIDs[label] = f.IDs
		}
	}
	return nil
}

// write lays out the file's rows: each figure, each engine, its ratio to
// llama.cpp's (above 1: faster or smaller), and at decode b1 how many of
// llama.cpp's greedy tokens it gives.
func (r *fileRows) write(w io.Writer) {
	fmt.Fprintf(w, "%s\n", filepath.Base(r.path))
	fmt.Fprintf(w, "  %-12s %-18s %12s   %s\n", "figure", "engine", "value", "vs llama.cpp")
	for _, fig := range benchFigures {
		ref, hasRef := r.figures["llama.cpp"][fig.name]
		for _, label := range r.labels {
			v, ok := r.figures[label][fig.name]
			if !ok {
				continue
			}
			note := ""
			if hasRef && label != "llama.cpp" {
				note = fmt.Sprintf("%.2fx", orient(v, ref, fig.higher))
			}
			if fig.name == "decode b1" && label != "llama.cpp" {
				want := r.greedyIDs["llama.cpp"]
				note += fmt.Sprintf(" (greedy tokens = llama.cpp's: %d of %d)", samePrefix(r.greedyIDs[label], want), len(want))
			}
			fmt.Fprintf(w, "  %-12s %-18s %9.1f %-5s  %s\n", fig.name, label, v, fig.unit, note)
		}
	}
}

// writeBenchSection replaces the generated section name of the benchmarks
// document (between <!-- name:begin --> and <!-- name:end -->, appended at
// the end when absent) with the table and a line saying how it was made.
func writeBenchSection(path, name, how, table string) error {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		old, err = []byte("# Benchmarks\n"), nil
	}
	if err != nil {
		return err
	}
	section := fmt.Sprintf("%s\nMeasured %s on %s, %d cores, %s; %s.\n\n```text\n%s```\n%s",
		begin, time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), runtime.Version(), how, table, end)
	text := string(old)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		text = strings.TrimRight(text, "\n") + "\n\n" + section + "\n"
	} else {
		text = text[:i] + section + text[j+len(end):]
	}
	return files.WriteFile(path, []byte(text))
}

// cpuModel returns /proc/cpuinfo's model name.
func cpuModel() string {
	model, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(model), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
