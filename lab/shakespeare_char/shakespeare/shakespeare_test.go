package shakespeare

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/lab"
)

// TestShortRunLearnsAndWritesTheRunFolder trains 30 iterations on the go
// backend: the validation loss must fall well below its starting value
// (ln 65 ≈ 4.17 for an untrained model), and the run folder must hold the
// config, environment, metrics and sample.
func TestShortRunLearnsAndWritesTheRunFolder(t *testing.T) {
	c := Config{Model: Model{Data: assets.Require(t, assets.TinyShakespeare), BatchSize: 12, BlockSize: 64, NLayer: 2,
		NHead: 4, NEmbd: 64, LR: 1e-3, MinLR: 1e-4, WarmupIters: 5, Seed: 1, Backend: "go"}, Iters: 30, EvalInterval: 30,
		EvalIters: 2, DecayIters: 30, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, SampleTokens: 20}
	runs := t.TempDir()
	if err := Train(c, runs, io.Discard, io.Discard); err != nil {
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
	c := Config{Model: Model{Data: assets.Require(t, assets.TinyShakespeare), BatchSize: 4, BlockSize: 32, NLayer: 1,
		NHead: 2, NEmbd: 32, LR: 1e-3, MinLR: 1e-4, WarmupIters: 2, Seed: 3, Backend: "go"}, Iters: 20, EvalInterval: 10,
		EvalIters: 2, DecayIters: 20, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, SampleTokens: 8}
	whole := t.TempDir()
	if err := Train(c, whole, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	c.StopAfter = 10
	if err := Train(c, split, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(split, "shakespeare_char", "*"))
	if err := Resume(dirs[0], io.Discard, io.Discard); err != nil {
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

// TestPatienceSurvivesResume trains with a constant, high learning rate and
// -patience 2, so that the validation loss stops improving early; a run
// stopped (-stop-after) after one evaluation without improvement and then
// resumed must stop at the same iteration, with the same losses, as the
// uninterrupted run.
func TestPatienceSurvivesResume(t *testing.T) {
	c := Config{Model: Model{Data: assets.Require(t, assets.TinyShakespeare), BatchSize: 4, BlockSize: 32, NLayer: 1,
		NHead: 2, NEmbd: 32, LR: 1e-2, MinLR: 1e-2, Seed: 3, Backend: "go"}, Iters: 40, EvalInterval: 2, EvalIters: 1,
		Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.1, GradClip: 1, SampleTokens: 8, Patience: 2}
	whole := t.TempDir()
	var out bytes.Buffer
	if err := Train(c, whole, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	a := readLosses(t, whole)
	stopped := lastVal(a)
	if stopped >= c.Iters {
		t.Fatalf("the uninterrupted run did not stop early: %q", a)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("trained %d iterations", stopped)) {
		t.Errorf("stopped at %d, but the report says:\n%s", stopped, out.String())
	}
	// Pause right after the evaluation before the stop: with patience 2 it
	// is the first without improvement, which the resumed run must remember.
	split := t.TempDir()
	c.StopAfter = stopped - c.EvalInterval
	if err := Train(c, split, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(split, "shakespeare_char", "*"))
	if err := Resume(dirs[0], io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b := readLosses(t, split)
	if got := lastVal(b); got != stopped {
		t.Fatalf("uninterrupted run stopped at iteration %d, the resumed one at %d", stopped, got)
	}
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("losses differ:\nuninterrupted %q\nresumed       %q", a, b)
	}
}

// lastVal returns the step of the last validation line of readLosses' output.
func lastVal(lines []string) int {
	step := -1
	for _, l := range lines {
		var s int
		var split string
		if _, err := fmt.Sscanf(l, "%d %s", &s, &split); err == nil && split == "val" {
			step = s
		}
	}
	return step
}

// TestRunFlags checks the command line: unknown flags and stray arguments
// are flag errors (exit status 2), -h is not an error.
func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
		{[]string{"-iters", "3", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-h"}, 0, "-patience"},
		{[]string{"-data", filepath.Join(t.TempDir(), "missing.txt"), "-backend", "go"}, 1, "missing.txt"},
		{[]string{"-dropout", "-0.1"}, 1, "dropout is -0.1; it must be between 0 and 0.99"},
		{[]string{"-accumulate", "0"}, 1, "accumulate is 0; it must be at least 1"},
		{[]string{"-optimizer", "adam-ish"}, 1, `unknown optimizer "adam-ish"`},
		{[]string{"-precision", "float8"}, 1, `precision "float8"`},
	} {
		var stderr bytes.Buffer
		err := Run(tc.args, io.Discard, &stderr)
		msg := stderr.String()
		if err != nil {
			msg += err.Error()
		}
		if lab.ExitCode(err) != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("Run(%q): exit status %d, error %v, stderr %q; want status %d and %q", tc.args, lab.ExitCode(err), err, stderr.String(), tc.code, tc.msg)
		}
	}
}

// nanoGPT's GPU setting, -dropout 0.2, runs and trains: the run learns, and
// its validation loss (measured without dropout) differs from the run
// without.
func TestDropoutRuns(t *testing.T) {
	args := func(dropout string) []string {
		return []string{"-data", assets.Require(t, assets.TinyShakespeare), "-iters", "20", "-eval-interval", "20", "-eval-iters", "2",
			"-backend", "go", "-runs", t.TempDir(), "-dropout", dropout}
	}
	val := func(dropout string) string {
		var out bytes.Buffer
		if err := Run(args(dropout), &out, io.Discard); err != nil {
			t.Fatalf("-dropout %s: %v", dropout, err)
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "final val_loss="); ok {
				return v
			}
		}
		t.Fatalf("-dropout %s: no final val_loss in %q", dropout, out.String())
		return ""
	}
	with, without := val("0.2"), val("0")
	if with == without {
		t.Errorf("-dropout 0.2 and -dropout 0 both end at val_loss %s", with)
	}
	if v, _ := strconv.ParseFloat(with, 64); !(v < 4.1) {
		t.Errorf("-dropout 0.2: final val_loss %s after 20 iterations; an untrained model has ln 65 ≈ 4.17", with)
	}
}
