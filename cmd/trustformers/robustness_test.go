package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// memoryLimitKB is the address space every robustness case runs in
// (ulimit -v): 6 GB, about ten times what the largest case needs when it
// does the right thing, and a fraction of what the inputs would take if
// their sizes were believed.
const memoryLimitKB = 6 << 20

// robustCase is one corrupt or extreme input fed to the command line.
type robustCase struct {
	name string
	// setup writes the case's files into dir and returns the arguments.
	setup func(t *testing.T, dir string) []string
	// want are substrings of the error (stderr): what is wrong and where.
	want []string
}

// robustTimeLimits are how long the processes of some cases may run, by
// case name: inputs that used to keep a process busy for minutes. A group
// fills it in its init.
var robustTimeLimits = map[string]time.Duration{}

// robustEnv is what every group of robustness cases may use: the test
// data and the golden model folders.
type robustEnv struct {
	shakespeare, stories string // Tiny Shakespeare and stories260K.bin
	gpt2Dir, llamaDir    string // the golden GPT-2 and LLaMA model folders
}

// robustGroups are the groups of cases TestRobustness runs: this file's
// core cases, and one group per robustness_*_test.go file, each added in
// that file's init.
var robustGroups = []func(t *testing.T, env robustEnv) []robustCase{coreCases}

// TestRobustness feeds every loader, subcommand and experiment flag
// corrupt and extreme inputs, each in a process of its own under a memory
// limit, and checks a clean failure: exit status 1, an error naming the
// file, tensor, field or flag, no panic, no crash for lack of memory.
func TestRobustness(t *testing.T) {
	bin := buildDoctor(t, t.TempDir(), "simd")
	env := robustEnv{
		shakespeare: assets.Require(t, assets.TinyShakespeare),
		stories:     assets.Require(t, assets.Stories260K),
		gpt2Dir:     filepath.Join(golden.Dir("gpt2"), "model"),
		llamaDir:    filepath.Join(golden.Dir("llama"), "model"),
	}
	var cases []robustCase
	for _, group := range robustGroups {
		cases = append(cases, group(t, env)...)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := tc.setup(t, dir)
			out, errOut, code := runLimitedFor(t, robustTimeLimits[tc.name], bin, args...)
			if tc.want == nil {
				if code != 0 {
					t.Fatalf("exit %d:\n%s%s", code, out, errOut)
				}
				return
			}
			if code != 1 {
				t.Errorf("exit %d, want 1 (a clean error)", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// coreCases are corrupt weights, configs and tokenizers, and experiment
// flags out of range.
func coreCases(t *testing.T, env robustEnv) []robustCase {
	shakespeare, stories, gpt2Dir, llamaDir := env.shakespeare, env.stories, env.gpt2Dir, env.llamaDir
	// gpt2Config writes the golden GPT-2 weights with its config changed by edit.
	gpt2Config := func(t *testing.T, dir string, edit map[string]any) string {
		return editedModel(t, gpt2Dir, filepath.Join(dir, "m"), edit)
	}
	llamaConfig := func(t *testing.T, dir string, edit map[string]any) string {
		return editedModel(t, llamaDir, filepath.Join(dir, "m"), edit)
	}
	cases := []robustCase{
		{"safetensors shape whose size overflows", func(t *testing.T, dir string) []string {
			writeSafetensors(t, filepath.Join(dir, "m", "model.safetensors"), `{"w":{"dtype":"F32","shape":[288230376151711744,64],"data_offsets":[0,0]}}`, nil)
			copyFile(t, filepath.Join(gpt2Dir, "config.json"), filepath.Join(dir, "m", "config.json"))
			return []string{"generate", "--model", filepath.Join(dir, "m")}
		}, []string{"model.safetensors", `tensor "w"`, "more bytes than the file"}},
		{"safetensors overlapping tensors", func(t *testing.T, dir string) []string {
			writeSafetensors(t, filepath.Join(dir, "m", "model.safetensors"),
				`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12))
			copyFile(t, filepath.Join(gpt2Dir, "config.json"), filepath.Join(dir, "m", "config.json"))
			return []string{"generate", "--model", filepath.Join(dir, "m")}
		}, []string{"model.safetensors", `tensors "a" [0, 8] and "b" [4, 12] overlap`}},
		{"safetensors header longer than the file", func(t *testing.T, dir string) []string {
			path := filepath.Join(dir, "m", "model.safetensors")
			os.MkdirAll(filepath.Dir(path), 0o755)
			b := binary.LittleEndian.AppendUint64(nil, 1<<60)
			os.WriteFile(path, append(b, '{', '}'), 0o644)
			copyFile(t, filepath.Join(gpt2Dir, "config.json"), filepath.Join(dir, "m", "config.json"))
			return []string{"generate", "--model", filepath.Join(dir, "m")}
		}, []string{"model.safetensors", "header length"}},
		{"a billion layers", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", gpt2Config(t, dir, map[string]any{"n_layer": 1000000000})}
		}, []string{"config.json", `"n_layer"`}},
		{"more layers than the checkpoint", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", llamaConfig(t, dir, map[string]any{"num_hidden_layers": 500})}
		}, []string{"num_hidden_layers", "holds only"}},
		{"fewer layers than the checkpoint", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", gpt2Config(t, dir, map[string]any{"n_layer": 1})}
		}, []string{"model.safetensors", "tensors the config does not use", "h.1."}},
		{"negative layer_norm_epsilon", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", gpt2Config(t, dir, map[string]any{"layer_norm_epsilon": -1e-5})}
		}, []string{"config.json", `"layer_norm_epsilon"`}},
		{"negative rms_norm_eps", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", llamaConfig(t, dir, map[string]any{"rms_norm_eps": -1e-6})}
		}, []string{"config.json", `"rms_norm_eps"`}},
		{"negative rope_theta", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", llamaConfig(t, dir, map[string]any{"rope_theta": -10000})}
		}, []string{"config.json", `"rope_theta"`}},
		{"negative head_dim", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", llamaConfig(t, dir, map[string]any{"head_dim": -8})}
		}, []string{"config.json", `"head_dim"`}},
		{"negative max_position_embeddings", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", llamaConfig(t, dir, map[string]any{"max_position_embeddings": -1})}
		}, []string{"config.json", `"max_position_embeddings"`}},
		{"a context too long for memory", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", llamaConfig(t, dir, map[string]any{"max_position_embeddings": 60000000}),
				"--max-new-tokens", "10000000", "--temperature", "0"}
		}, []string{"cache", "GB"}},
		{"max-new-tokens near the largest int", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", stories, "--max-new-tokens", "9223372036854775807", "--temperature", "0"}
		}, nil}, // runs to the context (512 tokens) and exits 0: see wantOK
		{"a tokenizer of another model", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", stories, "--tokenizer", filepath.Dir(assets.Require(t, assets.GPT2Encoder)), "--prompt", "Hello, world"}
		}, []string{"outside the model's vocabulary of 512"}},
		{"temperature NaN", func(t *testing.T, dir string) []string {
			return []string{"generate", "--model", stories, "--temperature", "NaN"}
		}, []string{"temperature NaN", "out of range"}},
		{"a PyTorch pickle", func(t *testing.T, dir string) []string {
			path := filepath.Join(dir, "pytorch_model.bin")
			os.WriteFile(path, append([]byte("PK\x03\x04"), make([]byte, 100)...), 0o644)
			return []string{"generate", "--model", path}
		}, []string{"pytorch_model.bin", "a PyTorch checkpoint: never read here"}},
		{"a legacy PyTorch pickle", func(t *testing.T, dir string) []string {
			path := filepath.Join(dir, "model.bin")
			os.WriteFile(path, append([]byte{0x80, 0x02, 0x8a, 0x0a}, make([]byte, 100)...), 0o644)
			return []string{"generate", "--model", path}
		}, []string{"model.bin", "pickle (protocol 2)"}},
		{"tokenizer.json with an unknown normalizer", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "normalizer", map[string]any{"type": "Sequence",
				"normalizers": []any{map[string]any{"type": "Lowercase"}, map[string]any{"type": "Transliterate"}}}), "Hello"}
		}, []string{"tokenizer.json", "normalizer.normalizers[1].type", `"Transliterate"`}},
		{"tokenizer.json with an unknown pre-tokenizer", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "pre_tokenizer", map[string]any{"type": "SplitOnCamelCase"}), "Hello"}
		}, []string{"tokenizer.json", "pre_tokenizer.type", `"SplitOnCamelCase"`}},
		{"tokenizer.json with an unknown model type", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "model", map[string]any{"type": "CharLevel", "vocab": map[string]int{}}), "Hello"}
		}, []string{"tokenizer.json", "model.type", `"CharLevel"`}},
		{"an empty -data file", func(t *testing.T, dir string) []string {
			path := filepath.Join(dir, "empty.txt")
			os.WriteFile(path, nil, 0o644)
			return []string{"train", "shakespeare_char", "-data", path, "-runs", dir, "-backend", "go"}
		}, []string{"empty.txt", "empty file"}},
		{"-eval-interval 0", func(t *testing.T, dir string) []string {
			return []string{"train", "shakespeare_char", "-data", shakespeare, "-eval-interval", "0", "-runs", dir, "-backend", "go"}
		}, []string{"eval-interval", "at least 1"}},
		{"negative -iters", func(t *testing.T, dir string) []string {
			return []string{"train", "shakespeare_char", "-data", shakespeare, "-iters", "-5", "-runs", dir, "-backend", "go"}
		}, []string{"iters", "at least 0"}},
		{"quantize --report with ids outside the vocabulary", func(t *testing.T, dir string) []string {
			text := filepath.Join(dir, "text.txt")
			os.WriteFile(text, bytes.Repeat([]byte("Hello there, how are you today? "), 200), 0o644)
			return []string{"quantize", "--model", stories, "--report", "--text", text, "--tokenizer",
				filepath.Dir(assets.Require(t, assets.GPT2Encoder)), "--schemes", "int8", "--seqs", "2", "--seq-len", "16"}
		}, []string{"outside the model's vocabulary of 512"}},
	}
	return cases
}

// runLimited runs bin with args under ulimit -v memoryLimitKB on the go
// backend, and fails the test on a panic or a crash.
func runLimited(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runLimitedFor(t, 0, bin, args...)
}

// runLimitedFor is runLimited with a time limit (none when 0): a process
// still running then is killed and fails the test.
func runLimitedFor(t *testing.T, limit time.Duration, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx := context.Background()
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", fmt.Sprintf(`ulimit -v %d && exec "$@"`, memoryLimitKB), "robust", bin}, args...)...)
	cmd.Env = append(os.Environ(), "TRUSTFORMERS_BACKEND=go", "HF_HUB_OFFLINE=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("%v: still running after %v", shortArgs(args), limit)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"panic:", "goroutine ", "fatal error:", "out of memory", "SIGSEGV", "bad_alloc"} {
		if strings.Contains(errOut.String(), bad) {
			t.Errorf("%v: %q in stderr (a crash, not an error):\n%s", shortArgs(args), bad, tail(errOut.String(), 3000))
		}
	}
	if code < 0 || code > 2 {
		t.Errorf("%v: exit status %d (killed?)\n%s", shortArgs(args), code, tail(errOut.String(), 3000))
	}
	return out.String(), errOut.String(), code
}

// shortArgs shortens long arguments for messages.
func shortArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if out[i] = a; len(a) > 100 {
			out[i] = fmt.Sprintf("%s… (%d bytes)", a[:80], len(a))
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// editedModel copies the model folder src to dst with its config.json's
// fields set as edit says (a nil value removes the field).
func editedModel(t *testing.T, src, dst string, edit map[string]any) string {
	t.Helper()
	var cfg map[string]any
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range edit {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	data, _ = json.Marshal(cfg)
	os.MkdirAll(dst, 0o755)
	if err := os.WriteFile(filepath.Join(dst, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(src, "model.safetensors"), filepath.Join(dst, "model.safetensors"))
	return dst
}

// tokenizerWith writes BERT's tokenizer.json with one top-level field
// replaced and returns its path.
func tokenizerWith(t *testing.T, dir, field string, value any) string {
	return tokenizerEdited(t, dir, func(tj map[string]any) { tj[field] = value })
}

// tokenizerEdited writes BERT's tokenizer.json as edit changes it and
// returns its path.
func tokenizerEdited(t *testing.T, dir string, edit func(tj map[string]any)) string {
	t.Helper()
	var tj map[string]any
	data, err := os.ReadFile(assets.Require(t, assets.BERTTokenizer))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		t.Fatal(err)
	}
	edit(tj)
	data, _ = json.Marshal(tj)
	path := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeSafetensors writes a safetensors file with the given JSON header and data.
func writeSafetensors(t *testing.T, path, header string, data []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(append(b, header...), data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRobustResume resumes run folders whose checkpoint was tampered with:
// a negative step, a step past the run's end, and a best-checkpoint copy
// without the data position. Each is an error naming the checkpoint.
func TestRobustResume(t *testing.T) {
	bin := buildDoctor(t, t.TempDir(), "simd")
	shakespeare := assets.Require(t, assets.TinyShakespeare)
	runs := t.TempDir()
	_, errOut, code := runLimited(t, bin, "train", "shakespeare_char", "-data", shakespeare, "-iters", "4", "-eval-interval", "2",
		"-eval-iters", "1", "-stop-after", "2", "-runs", runs, "-backend", "go")
	if code != 0 {
		t.Fatalf("train exited %d:\n%s", code, errOut)
	}
	dirs, _ := filepath.Glob(filepath.Join(runs, "shakespeare_char", "*"))
	if len(dirs) != 1 {
		t.Fatalf("run folders %v", dirs)
	}
	ckpt := filepath.Join(dirs[0], "checkpoints", "ckpt.safetensors")
	original, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(meta map[string]string)
		want string
	}{
		{"negative step", func(m map[string]string) { m["trustformers.step"] = "-7" }, "step -7 is negative"},
		{"step past the end", func(m map[string]string) { m["trustformers.step"] = "99999" }, "step 99999 is past the run's 4 iterations"},
		{"no data position (a best checkpoint)", func(m map[string]string) { delete(m, "train_rng"); delete(m, "eval_rng") }, "no RNG state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(ckpt, original, 0o644)
			set, meta, err := weights.ReadSafetensorsWithMetadata(ckpt)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(meta)
			if err := weights.WriteSafetensors(ckpt, set, meta); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := runLimited(t, bin, "train", "shakespeare_char", "-resume", dirs[0])
			if code != 1 || !strings.Contains(errOut, ckpt) || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant an error naming %s and saying %q", code, errOut, ckpt, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "lora_finetune", "-model", assets.Require(t, assets.Stories260K), "-batch", "0", "-runs", runs}, "batch is 0; it must be at least 1"},
		{[]string{"train", "lora_finetune", "-model", assets.Require(t, assets.Stories260K), "-dropout", "1.5", "-runs", runs}, "dropout is 1.5"},
		{[]string{"train", "mixed_precision", "-data", shakespeare, "-iters", "0", "-runs", runs}, "iters is 0; it must be at least 1"},
	} {
		_, errOut, code := runLimited(t, bin, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant %q", tc.args, code, errOut, tc.want)
		}
	}
}
