package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestShortRunLearnsAndWritesTheRunFolder trains 30 iterations on the go
// backend: the validation loss must fall well below its starting value
// (ln 65 ≈ 4.17 for an untrained model), and the run folder must hold the
// config, environment, metrics and sample.
func TestShortRunLearnsAndWritesTheRunFolder(t *testing.T) {
	c := Config{Data: assets.Require(t, assets.TinyShakespeare), Iters: 30, EvalInterval: 30, EvalIters: 2,
		BatchSize: 12, BlockSize: 64, NLayer: 2, NHead: 4, NEmbd: 64, LR: 1e-3, MinLR: 1e-4, WarmupIters: 5,
		DecayIters: 30, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, Seed: 1, Backend: "go", SampleTokens: 20}
	runs := t.TempDir()
	if err := run(c, runs); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(runs, "shakespeare_char", "*"))
	if len(dirs) != 1 {
		t.Fatalf("run folders: %v", dirs)
	}
	for _, f := range []string{"config.json", "env.json", "metrics.jsonl", "samples.txt", "report.html", "model/config.json"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("run folder lacks %s", f)
		}
	}
	f, err := os.Open(filepath.Join(dirs[0], "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var first, last float64
	trainLines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct {
			Step  int
			Split string
			Loss  float64
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		switch m.Split {
		case "val":
			if m.Step == 0 {
				first = m.Loss
			}
			last = m.Loss
		case "train":
			trainLines++
		}
	}
	if trainLines != 30 {
		t.Errorf("%d training lines in metrics.jsonl, want 30", trainLines)
	}
	t.Logf("validation loss %.3f -> %.3f after 30 iterations", first, last)
	if first < 3.9 || last > first-0.5 {
		t.Fatalf("validation loss %.3f -> %.3f: training does not learn", first, last)
	}
}

// TestResumeGivesTheUninterruptedLosses stops a run after 10 of 20
// iterations, resumes it from its run folder, and compares every loss with
// an uninterrupted run.
func TestResumeGivesTheUninterruptedLosses(t *testing.T) {
	c := Config{Data: assets.Require(t, assets.TinyShakespeare), Iters: 20, EvalInterval: 10, EvalIters: 2,
		BatchSize: 4, BlockSize: 32, NLayer: 1, NHead: 2, NEmbd: 32, LR: 1e-3, MinLR: 1e-4, WarmupIters: 2,
		DecayIters: 20, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, Seed: 3, Backend: "go", SampleTokens: 8}
	whole := t.TempDir()
	if err := run(c, whole); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	c.StopAfter = 10
	if err := run(c, split); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(split, "shakespeare_char", "*"))
	if err := continueRun(dirs[0]); err != nil {
		t.Fatal(err)
	}
	a, b := readLosses(t, whole), readLosses(t, split)
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("uninterrupted run logged %d losses, the resumed one %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("metric %d: %q uninterrupted, %q resumed", i, a[i], b[i])
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "model", "model.safetensors")); err != nil {
		t.Errorf("final weights not exported: %v", err)
	}
}

// readLosses returns "step split loss" for every metrics line of the single run under root.
func readLosses(t *testing.T, root string) []string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(root, "shakespeare_char", "*"))
	f, err := os.Open(filepath.Join(dirs[0], "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct {
			Step  int
			Split string
			Loss  float64
		}
		json.Unmarshal(sc.Bytes(), &m)
		out = append(out, fmt.Sprintf("%d %s %.9f", m.Step, m.Split, m.Loss))
	}
	return out
}
