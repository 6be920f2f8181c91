package modeling_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Environment of TestAttentionPrefillMemory.
const (
	envBenchEngines = "TRUSTFORMERS_ATTENTION_BENCH"         // engines, comma-separated: runs the measurement
	envBenchLengths = "TRUSTFORMERS_ATTENTION_BENCH_LENGTHS" // default 1024,4096,8192
	envBenchImpls   = "TRUSTFORMERS_ATTENTION_BENCH_IMPLS"   // default plain,blocked (blocked:N for blocks of N)
	envBenchLayers  = "TRUSTFORMERS_ATTENTION_BENCH_LAYERS"  // default 1
	envBenchCase    = "TRUSTFORMERS_ATTENTION_BENCH_CASE"    // set by the parent for each child process
)

// TestAttentionPrefillMemory measures a prefill (one Forward over one
// sequence) on SmolLM2-135M's shape cut to a few layers (hidden 576, 9
// heads, 3 KV heads of 64, MLP 1,536; vocabulary 2,048 so that the logits,
// the same for every method, do not hide attention's share) with plain and
// with blocked attention: the first call's seconds (compiling included),
// the best of the next three calls, and the process's peak resident memory (VmHWM), each
// case in a process of its own, as docs/benchmarks.md reports them:
//
//	TRUSTFORMERS_ATTENTION_BENCH=go,xla:cpu,onnx:cpu go test -run AttentionPrefillMemory -v -timeout 60m ./models/modeling/
func TestAttentionPrefillMemory(t *testing.T) {
	if c := os.Getenv(envBenchCase); c != "" {
		prefillCase(t, c)
		return
	}
	engines := os.Getenv(envBenchEngines)
	if engines == "" {
		t.Skipf("a measurement: set %s to the engines to measure", envBenchEngines)
	}
	lengths := envList(envBenchLengths, "1024,4096,8192")
	impls := envList(envBenchImpls, "plain,blocked")
	layers := envList(envBenchLayers, "1")[0]
	fmt.Println("| engine | tokens | attention | first call s | best of 3 s | peak RSS MB | RSS before MB |")
	fmt.Println("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
	for _, engine := range strings.Split(engines, ",") {
		for _, n := range lengths {
			for _, impl := range impls {
				c := strings.Join([]string{engine, n, impl, layers}, ";")
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
				cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAttentionPrefillMemory$", "-test.v")
				cmd.Env = append(os.Environ(), envBenchCase+"="+c)
				out, err := cmd.CombinedOutput()
				cancel()
				row := "failed: " + lastLine(string(out))
				if _, res, ok := strings.Cut(string(out), "RESULT "); ok && err == nil {
					row = strings.TrimSpace(strings.SplitN(res, "\n", 2)[0])
				}
				fmt.Printf("| %s | %s | %s | %s |\n", engine, n, impl, row)
			}
		}
	}
}

// prefillCase runs one case ("engine;tokens;impl;layers") and prints its
// figures after "RESULT ".
func prefillCase(t *testing.T, c string) {
	f := strings.Split(c, ";")
	n, _ := strconv.Atoi(f[1])
	layers, _ := strconv.Atoi(f[3])
	backend, err := xla.New(f[0])
	if err != nil {
		t.Fatal(err)
	}
	cfg := &llama.Config{ModelType: "llama", VocabSize: 2048, HiddenSize: 576, IntermediateSize: 1536,
		NumHiddenLayers: layers, NumAttentionHeads: 9, NumKeyValueHeads: 3, MaxPositionEmbeddings: 8192,
		RMSNormEps: 1e-5, RopeTheta: 100000, TieWordEmbeddings: true}
	m, err := llama.NewRandom(cfg, 1, backend)
	if err != nil {
		t.Fatal(err)
	}
	impl, block, _ := strings.Cut(f[2], ":")
	m.Attention.Impl = map[string]modeling.AttentionImpl{"plain": modeling.AttentionPlain, "blocked": modeling.AttentionBlocked, "auto": modeling.AttentionAuto}[impl]
	m.Attention.Block, _ = strconv.Atoi(block)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(cfg.VocabSize))
	}
	before := procStatusMB("VmRSS:")
	first, best := 0.0, 0.0
	for i := range 4 { // the first call compiles; the best of the other three
		start := time.Now()
		out, err := m.Forward(modeling.Batch{IDs: [][]int32{ids}}, modeling.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		secs := time.Since(start).Seconds()
		out.Logits.FinalizeAll()
		switch {
		case i == 0:
			first = secs
		case i == 1 || secs < best:
			best = secs
		}
	}
	fmt.Printf("RESULT %.2f | %.3f | %d | %d\n", first, best, procStatusMB("VmHWM:"), before)
}

// procStatusMB reads a field of /proc/self/status in MB.
func procStatusMB(field string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return -1
}

func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
