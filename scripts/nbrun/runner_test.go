package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireJupyter fails under `make test` (which installs Jupyter and the GoNB
// kernel first) and skips, naming the fix, elsewhere.
func requireJupyter(t *testing.T) {
	t.Helper()
	out, err := exec.Command("jupyter", "kernelspec", "list").CombinedOutput()
	if err == nil && strings.Contains(string(out), "gonb") {
		return
	}
	msg := "Jupyter with the gonb kernel is not installed (run `make setup`)"
	if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
		t.Fatalf("%s: %v\n%s", msg, err, out)
	}
	t.Skip(msg)
}

func TestRunnerCatchesEveryKindOfFailure(t *testing.T) {
	requireJupyter(t)
	r := runner{outDir: filepath.Join(t.TempDir(), "out"), kernel: "gonb", cellTimeout: 300}
	for _, tc := range []struct {
		fixture string
		want    string // a substring of the problems reported; "" means the notebook passes
	}{
		{"good", ""},
		{"compile_error", "error output"},
		{"panic", "stderr: panic: boom"},
		{"exit3", "exit status 3"},
		{"shell_false", "stderr: exit status 1"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			path := filepath.Join("testdata", tc.fixture+".ipynb")
			problems, err := r.run(path)
			if err != nil {
				t.Fatalf("running %s: %v", path, err)
			}
			report := strings.Join(problems, "\n")
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("good notebook reported problems:\n%s", report)
				}
				return
			}
			if !strings.Contains(report, tc.want) {
				t.Fatalf("%s: problems %q do not contain %q", path, report, tc.want)
			}
			if !strings.Contains(report, "cell 1") {
				t.Fatalf("%s: problems do not name the failing cell:\n%s", path, report)
			}
		})
	}
}

func TestCheckReadsOutputs(t *testing.T) {
	for _, tc := range []struct {
		name, outputs string
		failures      int
	}{
		{"stdout only", `[{"output_type":"stream","name":"stdout","text":["panic: only printed\n"]}]`, 0},
		{"signal on stderr", `[{"output_type":"stream","name":"stderr","text":"signal: killed\n"}]`, 1},
		{"ansi-coloured exit", `[{"output_type":"stream","name":"stderr","text":["\u001b[31mexit status 7\u001b[0m\n"]}]`, 1},
		{"error output", `[{"output_type":"error","ename":"ERROR","evalue":"x","traceback":["x"]}]`, 1},
		{"html display", `[{"output_type":"display_data","data":{"text/html":"<b>ok</b>"}}]`, 0},
	} {
		var nb notebook
		doc := `{"cells":[{"cell_type":"code","source":"%%\nx()","outputs":` + tc.outputs + `}]}`
		if err := json.Unmarshal([]byte(doc), &nb); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := check("nb.ipynb", &nb); len(got) != tc.failures {
			t.Errorf("%s: check found %d problems %q; want %d", tc.name, len(got), got, tc.failures)
		}
	}
}
