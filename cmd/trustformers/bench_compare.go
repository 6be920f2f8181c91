package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// benchRun is one process of make bench's comparison: a row label, the
// command, and its extra environment.
type benchRun struct {
	label string
	cmd   []string
	env   []string
}

// benchPlan is what benchCompare runs, by kind of row.
type benchPlan struct {
	backends    []string // our engines, float32
	quantLabels []string // our engines with 16-bit or quantized weights
	torchRuns   []string // PyTorch 2 + Hugging Face, 2 threads then 1
	cppLabels   []string // llama.cpp on the same GPT-2 as GGUF
	runs        []benchRun
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
	p := &benchPlan{}
	p.addEngines(self, reps, only, quantSchemes)
	py := filepath.Join(".deps", "venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return fmt.Errorf("%s missing: run `make venv` (PyTorch 2, Transformers and llama-cpp-python, pinned)", py)
	}
	p.addTorch(py, reps, only)
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
		p.addLlamaCpp(py, dir, reps, cppOnly)
	}
	results, greedyIDs, err := p.run(rounds, stderr)
	if err != nil {
		return err
	}
	table := p.table(results, greedyIDs)
	fmt.Fprint(stdout, table)
	if out != "" {
		return writeBenchDoc(out, table, reps, rounds)
	}
	return nil
}

// addEngines plans our engines in float32, then GPT-2 decoding with
// bfloat16 weights and with each quantization scheme on each of them.
func (p *benchPlan) addEngines(self string, reps int, only, quantSchemes string) {
	p.backends = benchEngines()
	for _, b := range p.backends {
		p.runs = append(p.runs, benchRun{b, []string{self, "bench", "--backend", b, "--reps", fmt.Sprint(reps), "--only", only}, nil})
	}
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
	if quantOnly == "" {
		return
	}
	quantReps := fmt.Sprint(min(reps, quantBenchReps))
	// bfloat16 weights on the engines that run bfloat16 (ONNX Runtime's CPU
	// provider does not convert them).
	for _, b := range p.backends {
		if b == "onnx:cpu" {
			continue
		}
		label := b + " bf16"
		p.quantLabels = append(p.quantLabels, label)
		p.runs = append(p.runs, benchRun{label, []string{self, "bench", "--backend", b, "--weights", "bf16", "--reps", quantReps, "--only", quantOnly}, nil})
	}
	if slices.Contains(p.backends, "onnx:cpu") {
		p.addFused(self, reps, only)
	}
	if quantSchemes == "" {
		return
	}
	for _, b := range p.backends {
		for _, sch := range strings.Split(quantSchemes, ",") {
			label := b + " " + sch
			p.quantLabels = append(p.quantLabels, label)
			p.runs = append(p.runs, benchRun{label, []string{self, "bench", "--backend", b, "--quant", sch, "--reps", quantReps, "--only", quantOnly}, nil})
		}
	}
}

// addFused plans GPT-2 decoding on the fused route (onnx:cpu only) with
// each of fusedSchemes, at batch 1 and 8.
func (p *benchPlan) addFused(self string, reps int, only string) {
	var keep []string
	for _, f := range strings.Split(fusedBenchFigures, ",") {
		if wants(only, f) {
			keep = append(keep, f)
		}
	}
	if len(keep) == 0 {
		return
	}
	for _, sch := range fusedSchemes {
		label := "onnx:cpu " + sch
		p.quantLabels = append(p.quantLabels, label)
		p.runs = append(p.runs, benchRun{label, []string{self, "bench", "--backend", "onnx:cpu", "--quant", sch,
			"--reps", fmt.Sprint(reps), "--only", strings.Join(keep, ",")}, nil})
	}
}

// addTorch plans PyTorch 2 + Hugging Face at both thread settings; the
// table takes the better one per figure.
func (p *benchPlan) addTorch(py string, reps int, only string) {
	script := filepath.Join("scripts", "reference", "bench.py")
	p.torchRuns = []string{"pytorch-2t", "pytorch-1t"}
	for i, label := range p.torchRuns {
		threads := fmt.Sprint(2 - i)
		p.runs = append(p.runs, benchRun{label, []string{py, script, "--reps", fmt.Sprint(reps), "--only", only},
			[]string{"TORCH_THREADS=" + threads, "OMP_NUM_THREADS=" + threads}})
	}
}

// addLlamaCpp plans llama.cpp decoding the same GPT-2, exported by
// `bench --gguf` into dir.
func (p *benchPlan) addLlamaCpp(py, dir string, reps int, cppOnly string) {
	for _, typ := range ggufTypes {
		label := "llama.cpp " + typ
		p.cppLabels = append(p.cppLabels, label)
		p.runs = append(p.runs, benchRun{label, []string{py, filepath.Join("scripts", "reference", "bench_llamacpp.py"),
			"--model", filepath.Join(dir, "gpt2-"+typ+".gguf"), "--reps", fmt.Sprint(reps), "--only", cppOnly}, nil})
	}
}

// run runs every planned process rounds times, alternating, and returns
// each label's figures (a value per round) and decode b1's greedy tokens.
func (p *benchPlan) run(rounds int, stderr io.Writer) (map[string]map[string][]float64, map[string][]int32, error) {
	results := map[string]map[string][]float64{} // label -> figure -> values over rounds
	greedyIDs := map[string][]int32{}            // label -> decode b1's tokens
	for round := range rounds {
		for _, r := range p.runs {
			fmt.Fprintf(stderr, "bench round %d: %s\n", round+1, r.label)
			cmd := exec.Command(r.cmd[0], r.cmd[1:]...)
			cmd.Env = append(os.Environ(), r.env...)
			var buf bytes.Buffer
			cmd.Stdout = &buf
			cmd.Stderr = stderr
			if err := cmd.Run(); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", r.label, err)
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
	return results, greedyIDs, nil
}

// table lays out the results: for each figure, a row per engine with the
// better PyTorch setting beside it and the ratio, then the 16-bit and
// quantized rows against their engine's float32, then llama.cpp's rows.
func (p *benchPlan) table(results map[string]map[string][]float64, greedyIDs map[string][]int32) string {
	var table strings.Builder
	fmt.Fprintf(&table, "%-14s %-14s %12s   %-24s %-20s %s\n", "figure", "engine", "value", "pytorch 2 + HF (best)", "pytorch (1 thread)", "ratio vs best")
	for _, fig := range benchFigures {
		best, bestLabel := 0.0, ""
		for _, label := range p.torchRuns {
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
		for _, b := range p.backends {
			row(b, refStr, ref1Str, "")
		}
		for _, label := range p.quantLabels {
			note := ""
			if fp32 := results[strings.Fields(label)[0]][fig.name]; len(fp32) > 0 && len(results[label][fig.name]) > 0 {
				note = fmt.Sprintf(" (%.2fx fp32)", orient(median(results[label][fig.name]), median(fp32), fig.higher))
			}
			row(label, "", "", note)
		}
		for _, label := range p.cppLabels {
			note := ""
			if fig.name == "decode b1" {
				note = fmt.Sprintf(" (greedy tokens = go's: %d of %d)", samePrefix(greedyIDs[label], greedyIDs["go"]), len(greedyIDs["go"]))
			}
			row(label, "", "", note)
		}
	}
	return table.String()
}

// llamaCppFigures returns the figures of only that the llama.cpp rows
// measure (prefill, decoding at batch 1 and 8, first token, peak RSS).
func llamaCppFigures(only string) string {
	var keep []string
	for _, f := range []string{"prefill 1x128", "decode b1", "decode b8", "first token"} {
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

// writeBenchDoc replaces the generated section of the benchmarks document.
func writeBenchDoc(path, table string, reps, rounds int) error {
	how := fmt.Sprintf("`make bench` (%d repetitions after a warm-up, median; %d round(s)). Higher is better for tok/s, lower for ms, s and MB; the ratio is each row over PyTorch 2 + Hugging Face at its better thread setting for that figure, oriented so that above 1 means faster or smaller", reps, rounds)
	return writeBenchSection(path, "bench", how, table)
}
