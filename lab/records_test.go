package lab

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trustformers/trustformers-go/training"
)

// TestMetricsRecordNaNAndInfinity logs a diverged loss: the line is
// written whole (not dropped, not blank), and reads back as NaN and ±Inf.
func TestMetricsRecordNaNAndInfinity(t *testing.T) {
	r, err := NewRun(t.TempDir(), "x", map[string]int{"a": 1}, "go", 1)
	if err != nil {
		t.Fatal(err)
	}
	r.OnMetrics(training.Metrics{Step: 0, Split: "train", Loss: 2.5, LR: 1e-3})
	r.OnMetrics(training.Metrics{Step: 1, Split: "train", Loss: math.NaN(), GradNorm: math.Inf(1)})
	r.OnMetrics(training.Metrics{Step: 2, Split: "val", Loss: math.Inf(-1)})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(r.Dir, "metrics.jsonl"))
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 3 || strings.Contains(string(data), "\n\n") {
		t.Fatalf("metrics.jsonl:\n%s", data)
	}
	lines, err := readMetrics(filepath.Join(r.Dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(lines[1].Loss)) || !math.IsInf(float64(lines[1].GradNorm), 1) || !math.IsInf(float64(lines[2].Loss), -1) {
		t.Errorf("read back %+v", lines)
	}
	if err := r.WriteReport("x"); err != nil {
		t.Errorf("report over a NaN loss: %v", err)
	}
}

// TestResumeRepairsATornLine reopens a run whose last metrics line a kill
// cut short: the partial line is dropped, the next lines are whole, and
// the folder stays readable; stale temporary files are removed.
func TestResumeRepairsATornLine(t *testing.T) {
	r, err := NewRun(t.TempDir(), "x", map[string]int{"a": 1}, "go", 1)
	if err != nil {
		t.Fatal(err)
	}
	r.OnMetrics(training.Metrics{Step: 0, Split: "train", Loss: 2.5})
	r.Close()
	path := filepath.Join(r.Dir, "metrics.jsonl")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":1,"split":"tra`)
	f.Close()
	stale := filepath.Join(r.Dir, "checkpoints", ".ckpt.safetensors.tmp123456")
	os.WriteFile(stale, []byte("half a checkpoint"), 0o644)

	var cfg map[string]int
	r2, err := OpenRun(r.Dir, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	r2.OnMetrics(training.Metrics{Step: 1, Split: "train", Loss: 2.4})
	r2.Close()
	lines, err := readMetrics(path)
	if err != nil {
		t.Fatalf("after resuming: %v", err)
	}
	if len(lines) != 2 || lines[1].Step != 1 || float64(lines[1].Loss) != 2.4 {
		t.Errorf("lines after the repair: %+v", lines)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file left: %v", err)
	}
	if _, err := ReadRun(r.Dir); err != nil {
		t.Errorf("ReadRun after the repair: %v", err)
	}
}

// TestConcurrentRunsGetTheirOwnFolders starts eight runs of one experiment
// at once, in one process: eight folders.
func TestConcurrentRunsGetTheirOwnFolders(t *testing.T) {
	root := t.TempDir()
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	for i := range dirs {
		wg.Go(func() {
			r, err := NewRun(root, "x", map[string]int{"i": i}, "go", 1)
			if err != nil {
				t.Error(err)
				return
			}
			dirs[i] = r.Dir
			r.Close()
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			t.Errorf("two runs share %s", d)
		}
		seen[d] = true
	}
}
