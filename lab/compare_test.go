package lab_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/training"
)

// settings is a run's config.json in these tests.
type settings struct {
	LR     float64 `json:"learning_rate"`
	NLayer int     `json:"n_layer"`
	Seed   uint64  `json:"seed"`
	Model  struct {
		Width int `json:"width"`
	} `json:"model"`
}

// writeRun makes a run folder under root with lab's own writers: steps
// training steps at a constant tokens/s, and validation losses every 10
// steps that fall by drop each time, then rise once at the end.
func writeRun(t testing.TB, root string, s settings, steps int, drop float64) string {
	t.Helper()
	r, err := lab.NewRun(root, "toy", s, "go", s.Seed)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	val := 4.0
	for step := 0; step <= steps; step++ {
		if step%10 == 0 {
			if step == steps {
				val += 1.5 * drop // half a drop above the previous evaluation
			}
			r.OnMetrics(training.Metrics{Step: step, Split: "val", Loss: val})
			val -= drop
		}
		if step < steps {
			r.OnMetrics(training.Metrics{Step: step, Split: "train", Loss: 4 - float64(step)*drop/10, LR: s.LR,
				TokensPerSec: 1000 * float64(s.NLayer)})
		}
	}
	return r.Dir
}

// configOnly leaves out env.json's differences (a commit landing between
// two runs of a test adds env.commit).
func configOnly(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "env.") {
			out = append(out, k)
		}
	}
	return out
}

func TestCompare(t *testing.T) {
	root := t.TempDir()
	a := writeRun(t, root, settings{LR: 1e-3, NLayer: 4, Seed: 1}, 30, 0.5)
	b := writeRun(t, root, settings{LR: 3e-3, NLayer: 2, Seed: 1}, 20, 0.25)
	c, err := lab.Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(configOnly(c.Differences), ","); got != "learning_rate,n_layer" {
		t.Errorf("differences %q, want learning_rate,n_layer (seed and model.width are the same)", got)
	}
	ra, rb := c.Runs[0], c.Runs[1]
	// a: val 4, 3.5, 3, then 3.25 at step 30; b: 4, 3.75, then 3.875 at step 20.
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"a steps", float64(ra.Steps), 30}, {"a final", ra.FinalVal, 3.25}, {"a best", ra.BestVal, 3}, {"a best step", float64(ra.BestValStep), 20},
		{"b steps", float64(rb.Steps), 20}, {"b final", rb.FinalVal, 3.875}, {"b best", rb.BestVal, 3.75}, {"a tokens/s", ra.TokensPerSec, 4000},
		{"a train points", float64(len(ra.Train)), 30}, {"b val points", float64(len(rb.Val)), 3},
	} {
		if math.Abs(tc.got-tc.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	text := c.Table().Text()
	t.Logf("\n%s", text)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want a header and 2 rows:\n%s", len(lines), text)
	}
	for i, want := range [][]string{
		{"run", "learning_rate", "n_layer", "steps", "final val", "best val", "tokens/s", "wall time"},
		{filepath.Base(a), "0.001", "4", "30", "3.2500", "3.0000 @20", "4000"},
		{filepath.Base(b), "0.003", "2", "20", "3.8750", "3.7500 @10", "2000"},
	} {
		for _, cell := range want {
			if !strings.Contains(lines[i], cell) {
				t.Errorf("table line %d lacks %q: %q", i, cell, lines[i])
			}
		}
	}
	md := c.Table().Markdown()
	if !strings.HasPrefix(md, "| run | learning_rate | n_layer | steps |") || !strings.Contains(md, "\n| --- | --- |") ||
		!strings.Contains(md, "| "+filepath.Base(b)+" | 0.003 | 2 | 20 | 3.8750 | 3.7500 @10 | 2000 |") {
		t.Errorf("markdown:\n%s", md)
	}

	page := filepath.Join(root, "compare.html")
	if err := c.WriteHTML(page, "toy runs"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>toy runs</title>", "<td style=\"border-bottom:1px solid #ddd;padding:4px 10px\">3.8750</td>",
		filepath.Base(a) + " · train", filepath.Base(a) + " · valid", filepath.Base(b) + " · valid", "[30,3.25]", "echarts.init"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("compare.html lacks %q", want)
		}
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left beside compare.html", e.Name())
		}
	}
}

// TestReadRunByHand reads a run folder written by hand: wall time from
// env.json's start to the last line, the median speed, a step logged twice
// (the later wins), and a last line cut short.
func TestReadRunByHand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "exp", "run1")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"lr": 0.1}`), 0o644)
	os.WriteFile(filepath.Join(dir, "env.json"), []byte(`{"backend": "go", "started": "2026-01-02T03:04:05Z"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(`{"step":0,"split":"train","loss":3,"tokens_per_sec":10,"time":"2026-01-02T03:04:06Z"}
{"step":1,"split":"train","loss":2.5,"tokens_per_sec":500,"time":"2026-01-02T03:04:07Z"}
{"step":1,"split":"train","loss":2.4,"tokens_per_sec":600,"time":"2026-01-02T03:05:07Z"}
{"step":2,"split":"val","loss":2.2,"time":"2026-01-02T03:06:05.5Z"}
{"step":2,"split":"tr`), 0o644)
	s, err := lab.ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "run1" || s.Experiment != "exp" || s.Steps != 2 || len(s.Train) != 2 || s.Train[1].Value != 2.4 ||
		s.TokensPerSec != 305 || s.WallTime != 2*time.Minute+500*time.Millisecond || s.FinalVal != 2.2 {
		t.Errorf("read %+v", s)
	}
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte("{\"step\":0}\nnot json\n{\"step\":1}\n"), 0o644)
	if _, err := lab.ReadRun(dir); err == nil || !strings.Contains(err.Error(), "metrics.jsonl: line 2") {
		t.Errorf("a broken line in the middle: err = %v", err)
	}
	if _, err := lab.Compare(filepath.Dir(filepath.Dir(dir)), t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no run folder") {
		t.Errorf("comparing an empty folder: err = %v", err)
	}
}

func ExampleCompare() {
	root, _ := os.MkdirTemp("", "runs")
	defer os.RemoveAll(root)
	for _, lr := range []float64{1e-3, 3e-3} {
		r, _ := lab.NewRun(root, "toy", map[string]any{"learning_rate": lr, "n_layer": 4}, "go", 1)
		for step := range 100 {
			r.OnMetrics(training.Metrics{Step: step, Split: "train", Loss: 4 - lr*float64(step), TokensPerSec: 1000})
		}
		r.OnMetrics(training.Metrics{Step: 100, Split: "val", Loss: 4 - lr*100})
		r.Close()
	}
	// Every run folder under runs/toy: print the table, draw the chart.
	c, err := lab.Compare(filepath.Join(root, "toy"))
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Differences)
	for _, r := range c.Runs {
		fmt.Printf("%d steps, final val loss %.2f\n", r.Steps, r.FinalVal)
	}
	if err := c.WriteHTML(filepath.Join(root, "toy", "compare.html"), "learning rates"); err != nil {
		panic(err)
	}
	// Output:
	// [learning_rate]
	// 100 steps, final val loss 3.90
	// 100 steps, final val loss 3.70
}
