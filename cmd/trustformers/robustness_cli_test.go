package main

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
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
		{"a prompt file that is the zero device", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", env.stories, "--prompt-file", "/dev/zero"}
		}, []string{"--prompt-file", "/dev/zero", "more than 64 MB"}},
		{"bench --only naming no figure", func(t *testing.T, dir string) []string {
			return []string{"bench", "--only", "bogus"}
		}, []string{"--only", `"bogus"`, "decode b1"}},
		{"bench --reps -1", func(t *testing.T, dir string) []string {
			return []string{"bench", "--reps", "-1"}
		}, []string{"--reps -1", "at least 1"}},
		{"-block-size longer than the data", func(t *testing.T, dir string) []string {
			return []string{"train", "shakespeare_char", "-data", env.shakespeare, "-block-size", "10000000", "-runs", dir, "-backend", "go"}
		}, []string{"input.txt", "too few for windows of 10000000", "-block-size"}},
		{"-block-size too long for memory", func(t *testing.T, dir string) []string {
			return []string{"train", "shakespeare_char", "-data", env.shakespeare, "-block-size", "100000", "-runs", dir, "-backend", "go"}
		}, []string{"context 100000", "needs about", "GB", "this process may take"}},
		{"-n-embd too wide for memory", func(t *testing.T, dir string) []string {
			return []string{"train", "shakespeare_char", "-data", env.shakespeare, "-n-embd", "100000", "-runs", dir, "-backend", "go"}
		}, []string{"100000 wide", "needs about", "GB"}},
		{"-batch-size too large for memory", func(t *testing.T, dir string) []string {
			return []string{"train", "shakespeare_char", "-data", env.shakespeare, "-batch-size", "100000000", "-runs", dir, "-backend", "go"}
		}, []string{"batch 100000000", "needs about", "GB"}},
		{"mixed_precision -n-embd too wide for memory", func(t *testing.T, dir string) []string {
			return []string{"train", "mixed_precision", "-data", env.shakespeare, "-n-embd", "100000", "-runs", dir, "-backend", "go"}
		}, []string{"100000 wide", "needs about", "GB"}},
		{"xla:cpu with more host devices than the address space holds", func(t *testing.T, dir string) []string {
			requireXLACPU(t)
			return []string{"generate", "--backend", "xla:cpu,devices=256", "--model", env.stories}
		}, []string{"xla:cpu,devices=256", "address space", "ulimit -v"}},
		{"a cached config.json that is the zero device", func(t *testing.T, dir string) []string {
			cachedModel(t, dir, func(config string) { os.Symlink("/dev/zero", config) })
			return []string{"generate", "--model", "org/zero", "--max-new-tokens", "1"}
		}, []string{"config.json", "not a regular file", "character device"}},
		{"a cached config.json that is a FIFO", func(t *testing.T, dir string) []string {
			cachedModel(t, dir, func(config string) {
				if err := syscall.Mkfifo(config, 0o644); err != nil {
					t.Fatal(err)
				}
			})
			return []string{"generate", "--model", "org/zero", "--max-new-tokens", "1"}
		}, []string{"config.json", "not a regular file", "named pipe"}},
		{"-data that is the zero device", func(t *testing.T, dir string) []string {
			return []string{"train", "shakespeare_char", "-data", "/dev/zero", "-runs", dir, "-backend", "go"}
		}, []string{"/dev/zero", "not a regular file"}},
	}
}

// cachedModel makes a Hugging Face cache in dir holding model org/zero,
// whose config.json make creates, with the golden GPT-2's weights, and
// points HF_HUB_CACHE at it.
func cachedModel(t *testing.T, dir string, make func(config string)) {
	t.Helper()
	repo := filepath.Join(dir, "hub", "models--org--zero")
	snap := filepath.Join(repo, "snapshots", "abc123")
	os.MkdirAll(snap, 0o755)
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("abc123"), 0o644)
	copyFile(t, filepath.Join(golden.Dir("gpt2"), "model", "model.safetensors"), filepath.Join(snap, "model.safetensors"))
	make(filepath.Join(snap, "config.json"))
	t.Setenv("HF_HUB_CACHE", filepath.Join(dir, "hub"))
}

// TestRobustRunFolders checks what a run folder does besides training:
// a finished run resumed is left alone and reports its recorded figures;
// one whose final outputs are missing (a disk that filled up) gets them;
// a folder another process holds is refused; data too short for the
// context is refused before a folder is made; lora_finetune refuses
// -targets and -quant before sampling; a failed final rename leaves no
// temporary file.
func TestRobustRunFolders(t *testing.T) {
	bin := buildDoctor(t, t.TempDir(), "simd")
	shakespeare := assets.Require(t, assets.TinyShakespeare)
	stories := assets.Require(t, assets.Stories260K)
	runs := t.TempDir()
	out, errOut, code := runLimited(t, bin, "train", "shakespeare_char", "-data", shakespeare, "-iters", "2", "-eval-interval", "1",
		"-eval-iters", "1", "-sample-tokens", "20", "-runs", runs, "-backend", "go")
	if code != 0 {
		t.Fatalf("train exited %d:\n%s", code, errOut)
	}
	final := regexp.MustCompile(`final val_loss=[0-9.]+`).FindString(out)
	dirs, _ := filepath.Glob(filepath.Join(runs, "shakespeare_char", "*"))
	if final == "" || len(dirs) != 1 {
		t.Fatalf("run folders %v, output:\n%s", dirs, out)
	}
	run := dirs[0]
	snapshot := func() map[string]string {
		m := map[string]string{}
		for _, name := range []string{"metrics.jsonl", "samples.txt", "report.html", "model/model.safetensors", "checkpoints/ckpt.safetensors"} {
			data, _ := os.ReadFile(filepath.Join(run, name))
			m[name] = string(data)
		}
		return m
	}
	before := snapshot()

	t.Run("a finished run resumed", func(t *testing.T) {
		out, errOut, code := runLimited(t, bin, "train", "shakespeare_char", "-resume", run)
		if code != 0 || !strings.Contains(out, "is finished") || !strings.Contains(out, strings.TrimPrefix(final, "final ")) ||
			strings.Contains(out, "0.0000") || strings.Contains(out, "trained") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant it to say the run is finished with its %s", code, out, errOut, final)
		}
		if after := snapshot(); !maps.Equal(before, after) {
			t.Errorf("resuming a finished run changed its folder")
		}
	})
	t.Run("a finished run without its report", func(t *testing.T) {
		os.Remove(filepath.Join(run, "report.html"))
		out, errOut, code := runLimited(t, bin, "train", "shakespeare_char", "-resume", run)
		if code != 0 || !strings.Contains(out, final+"\n") || strings.Contains(out, "trained") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant the recorded %s", code, out, errOut, final)
		}
		if _, err := os.Stat(filepath.Join(run, "report.html")); err != nil {
			t.Errorf("report.html not written again: %v", err)
		}
	})
	t.Run("a run another process holds", func(t *testing.T) {
		f, err := os.OpenFile(filepath.Join(run, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		f.Truncate(0)
		f.WriteAt([]byte("4242\n"), 0)
		_, errOut, code := runLimited(t, bin, "train", "shakespeare_char", "-resume", run)
		if code != 1 || !strings.Contains(errOut, run) || !strings.Contains(errOut, "in use by process 4242") {
			t.Errorf("exit %d, stderr:\n%s\nwant an error naming %s and process 4242", code, errOut, run)
		}
	})
	t.Run("data shorter than the context", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "short.txt")
		os.WriteFile(data, []byte("First Citizen:\nBefore we proceed any further, hear me speak.\n"), 0o644)
		runs := t.TempDir()
		_, errOut, code := runLimited(t, bin, "train", "shakespeare_char", "-data", data, "-runs", runs, "-backend", "go")
		made, _ := filepath.Glob(filepath.Join(runs, "*", "*"))
		if code != 1 || !strings.Contains(errOut, "short.txt") || !strings.Contains(errOut, "too few for windows of 64") || len(made) > 0 {
			t.Errorf("exit %d, run folders %v, stderr:\n%s\nwant an error naming short.txt and no run folder", code, made, errOut)
		}
	})
	for _, tc := range []struct{ flag, value, want string }{
		{"-targets", "q_proj,bogus", `"bogus"`},
		{"-quant", "int3", `unknown scheme "int3"`},
		{"-quant-modules", "bogus", `"bogus"`},
	} {
		t.Run("lora_finetune "+tc.flag, func(t *testing.T) {
			args := []string{"train", "lora_finetune", "-model", stories, tc.flag, tc.value, "-runs", t.TempDir(), "-backend", "go"}
			if tc.flag == "-quant-modules" {
				args = append(args, "-quant", "int8")
			}
			_, errOut, code := runLimited(t, bin, args...)
			if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "sampling") {
				t.Errorf("exit %d, stderr:\n%s\nwant %q before any sampling", code, errOut, tc.want)
			}
		})
	}
	t.Run("quantize --out onto a folder", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "q.gguf")
		os.Mkdir(out, 0o755)
		_, errOut, code := runLimited(t, bin, "quantize", "--model", stories, "--scheme", "q8_0", "--out", out, "--backend", "go")
		left, _ := filepath.Glob(filepath.Join(dir, ".*"))
		if code != 1 || !strings.Contains(errOut, out) || len(left) > 0 {
			t.Errorf("exit %d, left %v, stderr:\n%s\nwant an error naming %s and no temporary file", code, left, errOut, out)
		}
	})
}

// TestRobustPlugins puts broken files named like PJRT plugins where the
// default choice looks first: a shared library whose GetPjrtApi returns
// garbage (CUDA) and a text file (ROCm). A plain doctor passes both over
// and reports another backend; asking for the text file by name is an
// error naming it.
func TestRobustPlugins(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc is not installed (make setup installs it): no junk plugin to build")
	}
	bin := buildDoctor(t, t.TempDir(), "simd")
	dir := t.TempDir()
	src := filepath.Join(dir, "junk.c")
	os.WriteFile(src, []byte(`static unsigned char junk[4096];
void *GetPjrtApi(void) {
	for (int i = 0; i < (int)sizeof junk; i++) junk[i] = 0xA5;
	return junk;
}
`), 0o644)
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", filepath.Join(dir, "pjrt_c_api_cuda_plugin.so"), src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "pjrt_c_api_rocm_plugin.so"), []byte("not a library\n"), 0o644)
	env := []string{"-u", "TRUSTFORMERS_BACKEND", "-u", "GOMLX_BACKEND", "PJRT_PLUGIN_LIBRARY_PATH=" + dir}

	out, errOut, code := runLimited(t, "/usr/bin/env", append(env, bin, "doctor")...)
	backend := regexp.MustCompile(`(?m)^backend:\s+(\S+)`).FindStringSubmatch(out)
	if code != 0 || backend == nil || strings.HasPrefix(backend[1], "xla:cuda") || strings.HasPrefix(backend[1], "xla:rocm") {
		t.Errorf("doctor with broken plugins present: exit %d, stdout:\n%s\nstderr:\n%s\nwant another backend chosen", code, out, errOut)
	}
	for _, name := range []string{"pjrt_c_api_cuda_plugin.so", "pjrt_c_api_rocm_plugin.so"} {
		if !strings.Contains(out, name) {
			t.Errorf("doctor does not say why %s was passed over:\n%s", name, out)
		}
	}

	_, errOut, code = runLimited(t, "/usr/bin/env", append(env, bin, "doctor", "--backend", "xla:rocm")...)
	if code != 1 || !strings.Contains(errOut, "pjrt_c_api_rocm_plugin.so") || !strings.Contains(errOut, "not a PJRT plugin") {
		t.Errorf("doctor --backend xla:rocm (a text file): exit %d, stderr:\n%s\nwant an error naming the file", code, errOut)
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

// requireXLACPU skips a case when XLA's CPU plugin is not installed (fails
// after `make setup`).
func requireXLACPU(t *testing.T) {
	t.Helper()
	for _, p := range xla.FindPlugins() {
		if p.Name == "cpu" {
			return
		}
	}
	if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
		t.Fatal("XLA's CPU plugin is not installed: run `make setup`")
	}
	t.Skip("XLA's CPU plugin is not installed (make setup)")
}
