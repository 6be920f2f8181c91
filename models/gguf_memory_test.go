package models_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/gemma"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// memoryChild names the model (and dtype, after a comma) that the child
// process of TestGGUFDecodeMemory loads and decodes.
const memoryChild = "TRUSTFORMERS_TEST_MEMORY_CHILD"

// memoryNewTokens are the tokens the child decodes (one KV-cache bucket of
// 64 with the prompt).
const memoryNewTokens = 32

// TestGGUFDecodeMemory runs a GGUF decode in a process of its own (this
// test binary again) and reads its resident memory after loading (VmRSS)
// and its peak (VmHWM), for the real SmolLM2-135M Q4_1 file kept as codes
// and loaded as float32 (docs/quantization.md quotes both). The kept
// model's peak, decoding included, must stay under what the float32 model
// holds once loaded. The target of 1.5 times the file size plus the KV
// cache is not met yet (the decode's own buffers, about 130 MB here, come
// on top of the codes): the test logs the gap. It measures the go engine,
// whose buffers are the codes themselves; ONNX Runtime's arena keeps the
// dequantized products it computes (a 943 MB peak in the onnx pass, see
// docs/quantization.md).
func TestGGUFDecodeMemory(t *testing.T) {
	if spec := os.Getenv(memoryChild); spec != "" {
		memoryChildRun(t, spec)
		return
	}
	path := assets.RequireModel(t, assets.SmolLM2)
	stat, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	file := float64(stat.Size()) / (1 << 20)
	kept := memoryRun(t, path)
	full := memoryRun(t, path+",float32")
	t.Logf("file %.1f MB; kept: RSS after load %.1f MB, peak after %d tokens %.1f MB (KV cache %.1f MB); float32: %.1f MB, %.1f MB",
		file, kept["load"], memoryNewTokens, kept["peak"], kept["kv"], full["load"], full["peak"])
	if kept["peak"] >= full["load"] {
		t.Errorf("peak RSS %.1f MB decoding the kept model; the float32 model holds %.1f MB once loaded", kept["peak"], full["load"])
	}
	t.Logf("target 1.5 × file + KV cache = %.1f MB: %.1f MB over", 1.5*file+kept["kv"], kept["peak"]-(1.5*file+kept["kv"]))
}

// memoryRun runs the child for spec and returns its figures (MB).
func memoryRun(t *testing.T, spec string) map[string]float64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGGUFDecodeMemory$", "-test.v")
	cmd.Env = append(os.Environ(), memoryChild+"="+spec)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child for %s: %v\n%s", spec, err, out)
	}
	figures := map[string]float64{}
	for line := range strings.Lines(string(out)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "MEMORY ")
		if !ok {
			continue
		}
		for _, field := range strings.Fields(rest) {
			k, v, _ := strings.Cut(field, "=")
			figures[k], _ = strconv.ParseFloat(v, 64)
		}
	}
	if len(figures) == 0 {
		t.Fatalf("child for %s printed no MEMORY line:\n%s", spec, out)
	}
	return figures
}

// memoryChildRun loads the model spec names, decodes memoryNewTokens
// tokens, and prints its resident memory after loading and at its peak.
func memoryChildRun(t *testing.T, spec string) {
	path, dtype, _ := strings.Cut(spec, ",")
	backend, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.LoadWith(path, backend, modeling.LoadOptions{DType: dtype})
	if err != nil {
		t.Fatal(err)
	}
	load := procStatusMB(t, "VmRSS:")
	lm := m.(models.CausalLM)
	if _, err := generate.Generate(lm, []int32{1, 2, 3, 4}, generate.Options{MaxNewTokens: memoryNewTokens}); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("MEMORY load=%.1f peak=%.1f kv=%.2f\n", load, procStatusMB(t, "VmHWM:"), kvCacheMB(t, m, 64))
}

// kvCacheMB is the float32 KV cache of m for one sequence of length n.
func kvCacheMB(t *testing.T, m models.Model, n int) float64 {
	var layers, heads, dim int
	switch m := m.(type) {
	case *llama.Model:
		layers, heads, dim = m.Config.NumHiddenLayers, m.Config.NumKeyValueHeads, m.Config.HeadDim()
	case *gemma.Model:
		layers, heads, dim = m.Config.NumHiddenLayers, m.Config.NumKeyValueHeads, m.Config.HeadDim
	default:
		t.Fatalf("no KV cache size for a %T", m)
	}
	return float64(2*layers*heads*dim*n*4) / (1 << 20)
}

// procStatusMB reads a size field of /proc/self/status, in MB.
func procStatusMB(t *testing.T, field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024
		}
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}
