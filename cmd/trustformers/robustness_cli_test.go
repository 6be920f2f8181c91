package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/xla"
)

func init() { robustGroups = append(robustGroups, cliCases) }

// cliCases are the command line's own inputs (long prompts, bench flags),
// run folders, sizes checked before they are allocated, broken plugins and
// the places the tool runs other programs.
func cliCases(t *testing.T, env robustEnv) []robustCase {
	gpt2Tokenizer := func(t *testing.T) string { return filepath.Dir(assets.Require(t, assets.GPT2Encoder)) }
	return []robustCase{
		{"a 100 KB prompt on ONNX Runtime", func(t *testing.T, dir string) []string {
			requireONNXRuntime(t)
			// ONNX Runtime's telemetry, unless switched off, matches the
			// whole command line against a recursive regex (xla/onnx.go).
			t.Setenv(xla.EnvORTTelemetry, "")
			os.Unsetenv(xla.EnvORTTelemetry)
			prompt := strings.Repeat("hello ", 100<<10/6)
			return []string{"generate", "--backend", "onnx:cpu", "--model", env.stories, "--tokenizer", gpt2Tokenizer(t), "--prompt", prompt}
		}, []string{"does not fit the model's context of 512"}},
		{"a prompt file on ONNX Runtime", func(t *testing.T, dir string) []string {
			requireONNXRuntime(t)
			path := filepath.Join(dir, "prompt.txt")
			os.WriteFile(path, []byte(strings.Repeat("hello ", 1<<20/6)), 0o644)
			return []string{"generate", "--backend", "onnx:cpu", "--model", env.stories, "--tokenizer", gpt2Tokenizer(t), "--prompt-file", path}
		}, []string{"does not fit the model's context of 512"}},
		{"a prompt file that never ends", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", env.stories, "--prompt-file", "/dev/zero"}
		}, []string{"--prompt-file", "/dev/zero", "more than 64 MB"}},
		{"bench --only naming no figure", func(t *testing.T, dir string) []string {
			return []string{"bench", "--only", "bogus"}
		}, []string{"--only", `"bogus"`, "decode b1"}},
		{"bench --reps -1", func(t *testing.T, dir string) []string {
			return []string{"bench", "--reps", "-1"}
		}, []string{"--reps -1", "at least 1"}},
	}
}

// requireONNXRuntime skips a case when ONNX Runtime is not installed
// (fails after `make setup`, as assets.Require does).
func requireONNXRuntime(t *testing.T) {
	t.Helper()
	if lib, _ := xla.FindONNXRuntime(); lib == "" {
		if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
			t.Fatal("ONNX Runtime is not installed: run `make setup`")
		}
		t.Skip("ONNX Runtime is not installed (make setup)")
	}
}
