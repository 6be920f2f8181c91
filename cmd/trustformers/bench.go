package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trustformers/trustformers-go/lab"
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
	out := fs.String("out", "", "with --compare or --compare-files: also write the table to this markdown file")
	backendSpec := fs.String("backend", "", "backend to measure (one process per backend)")
	reps := fs.Int("reps", 5, "repetitions per figure after a warm-up (the median is reported)")
	rounds := fs.Int("rounds", 1, "with --compare: times the whole alternation is repeated")
	only := fs.String("only", "", "comma-separated figures to measure (default all)")
	quantSchemes := fs.String("quant", "int8,int4,nf4", "with --compare: quantization schemes whose GPT-2 decode is measured too (\"\": none); "+
		"without: quantize the GPT-2 model with this one scheme")
	weightDType := fs.String("weights", "", "without --compare: store GPT-2's matrix weights as bf16 (converted to float32 in each graph) before measuring")
	modelFile := fs.String("model", "", "with --backend: measure this real GGUF file (first token, decode b1 and b8, peak rss) instead of GPT-2 124M")
	dtype := fs.String("dtype", "auto", "with --model: the precision the file's weights are held in (auto: GGUF blocks kept as codes; float32: dequantized at load)")
	engines := fs.String("engines", "", "with --compare-files: comma-separated engines to measure (default every CPU engine present)")
	compareFiles := fs.String("compare-files", "", "comma-separated real GGUF files: measure each with every CPU backend and with llama.cpp on the same file, and print the table")
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
	if *compareFiles != "" {
		return benchCompareFiles(strings.Split(*compareFiles, ","), *engines, *reps, *out, stdout, stderr)
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
	var figs []figure
	var err error
	if *modelFile != "" {
		figs, err = benchFile(*backendSpec, *modelFile, *dtype, *reps, *only, stderr)
	} else {
		figs, err = benchBackend(*backendSpec, *reps, *only, scheme, stderr)
	}
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

// isSet reports whether flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// orient returns v over ref when higher is better, else ref over v, so
// that above 1 always means better.
func orient(v, ref float64, higher bool) float64 {
	if higher {
		return v / ref
	}
	return ref / v
}
