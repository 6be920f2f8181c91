package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestTrainThenCompareRuns trains shakespeare_char twice for a few
// iterations with `trustformers train` (two seeds, two lengths), then lists
// the run folders and compares them.
func TestTrainThenCompareRuns(t *testing.T) {
	data := assets.Require(t, assets.TinyShakespeare)
	runs := t.TempDir()
	for _, tc := range []struct{ seed, iters string }{{"1", "3"}, {"2", "4"}} {
		var out, errOut bytes.Buffer
		code := run([]string{"train", "shakespeare_char", "-iters", tc.iters, "-eval-interval", "2", "-eval-iters", "1",
			"-backend", "go", "-seed", tc.seed, "-data", data, "-runs", runs}, &out, &errOut)
		if code != 0 {
			t.Fatalf("train exited %d: %s", code, errOut.String())
		}
		if !strings.Contains(out.String(), "trained "+tc.iters+" iterations") || !regexp.MustCompile(`final val_loss=\d\.\d{4}\n`).MatchString(out.String()) {
			t.Errorf("train printed:\n%s", out.String())
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(runs, "shakespeare_char", "*"))
	if len(dirs) != 2 {
		t.Fatalf("run folders %v, want 2", dirs)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"runs", "list", runs}, &out, &errOut); code != 0 {
		t.Fatalf("runs list exited %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "run ") {
		t.Fatalf("runs list printed:\n%s", out.String())
	}
	for i, steps := range []string{"3", "4"} {
		// Each row: the folder, its steps, its final validation loss, the best with its step.
		want := regexp.MustCompile(regexp.QuoteMeta(dirs[i]) + `\s+` + steps + `\s+\d\.\d{4}\s+\d\.\d{4} @\d`)
		if !want.MatchString(lines[i+1]) {
			t.Errorf("runs list row %d = %q, want %s", i+1, lines[i+1], want)
		}
	}

	out.Reset()
	errOut.Reset()
	if code := run([]string{"runs", "compare", filepath.Join(runs, "shakespeare_char")}, &out, &errOut); code != 0 {
		t.Fatalf("runs compare exited %d: %s", code, errOut.String())
	}
	var header []string
	for _, f := range strings.Fields(strings.SplitN(out.String(), "\n", 2)[0]) {
		if !strings.HasPrefix(f, "env.") { // a commit landing between the two runs would add env.commit
			header = append(header, f)
		}
	}
	// The settings that differ: the iterations (and the decay, which follows them) and the seed.
	if got := strings.Join(header, " "); got != "run lr_decay_iters max_iters seed steps final val best val tokens/s wall time" {
		t.Errorf("compare header %q", got)
	}
	for _, d := range dirs {
		if !strings.Contains(out.String(), filepath.Base(d)+"  ") {
			t.Errorf("compare table lacks run %s:\n%s", filepath.Base(d), out.String())
		}
	}
	page := filepath.Join(runs, "shakespeare_char", "compare.html")
	if !strings.Contains(errOut.String(), "wrote "+page) {
		t.Errorf("compare did not say where it wrote the page: %q", errOut.String())
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !strings.Contains(string(html), filepath.Base(d)+" · valid") {
			t.Errorf("compare.html has no validation curve for %s", filepath.Base(d))
		}
	}

	out.Reset()
	// Flags may follow the folders.
	if code := run([]string{"runs", "compare", dirs[1], "--markdown", "--html", filepath.Join(t.TempDir(), "c.html")}, &out, &errOut); code != 0 ||
		!strings.HasPrefix(out.String(), "| run | steps | final val |") {
		t.Errorf("runs compare --markdown of one run: exit %d, printed:\n%s", code, out.String())
	}
}

func TestTrainAndRunsUsage(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"train"}, 2, "shakespeare_char"},
		{[]string{"train", "-h"}, 0, "lora_finetune"},
		{[]string{"train", "nope"}, 2, `unknown experiment "nope"`},
		{[]string{"train", "shakespeare_char", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"train", "shakespeare_char", "-h"}, 0, "-patience"},
		{[]string{"train", "shakespeare_char", "-backend", "go", "-data", filepath.Join(empty, "none.txt")}, 1, "trustformers train shakespeare_char: "},
		{[]string{"runs"}, 2, "usage: trustformers runs list"},
		{[]string{"runs", "sort"}, 2, `unknown subcommand "sort"`},
		{[]string{"runs", "list", empty}, 1, "trustformers runs list: no run folders under " + empty},
		{[]string{"runs", "list", filepath.Join(empty, "missing")}, 1, "missing"},
		{[]string{"runs", "compare"}, 2, "usage: trustformers runs compare"},
		{[]string{"runs", "compare", empty}, 1, "holds no run folder"},
		// -h is a question, not a mistake: every subcommand answers it with
		// its usage and exit status 0; a bad flag is exit status 2.
		{[]string{"runs", "list", "-h"}, 0, "usage: trustformers runs list"},
		{[]string{"generate", "-h"}, 0, "usage: trustformers generate"},
		{[]string{"encode", "-h"}, 0, "usage: trustformers encode"},
		{[]string{"quantize", "-h"}, 0, "usage: trustformers quantize"},
		{[]string{"doctor", "-h"}, 0, "usage: trustformers doctor"},
		{[]string{"bench", "-h"}, 0, "usage: trustformers bench"},
		{[]string{"generate", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"generate"}, 2, "usage: trustformers generate"},
		{[]string{"bench", "--weights", "int3"}, 2, `trustformers bench: --weights "int3": only bf16 is supported`},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.inStderr) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d, stderr containing %q", tc.args, code, errOut.String(), tc.code, tc.inStderr)
		}
	}
	var usage bytes.Buffer
	run([]string{"help"}, &usage, &usage)
	for _, name := range []string{"train", "runs"} {
		if !strings.Contains(usage.String(), name) {
			t.Errorf("usage does not list %s:\n%s", name, usage.String())
		}
	}
}
