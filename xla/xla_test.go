package xla

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// isolate points every search location of this package at empty temporary
// folders, so a test sees a machine with nothing installed.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	for _, v := range []string{EnvBackend, EnvGoMLXBackend, "PJRT_PLUGIN_LIBRARY_PATH", "VIRTUAL_ENV",
		"CONDA_PREFIX", "PYTHONPATH", "ONNXRUNTIME_SHARED_LIBRARY_PATH", EnvAutoInstall} {
		t.Setenv(v, "")
	}
	t.Chdir(dir)
	return dir
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"go", "go"},
		{"onnx", "onnx:cpu"},
		{"onnxruntime", "onnx:cpu"},
		{"onnx:cpu", "onnx:cpu"},
		{"xla:cuda", "xla:cuda"},
		{"stablehlo:cpu", "xla:cpu"},
		{" XLA:tpu ", "xla:tpu"},
	} {
		got, err := ParseSpec(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseSpec(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "cuda", "torch:cpu"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) returned no error", bad)
		}
	}
}

func TestUnknownBackendIsAnErrorNotAPanic(t *testing.T) {
	isolate(t)
	_, err := New("tensorflow")
	if err == nil || !strings.Contains(err.Error(), "known backends") {
		t.Fatalf("New(\"tensorflow\") error = %v; want one listing the known backends", err)
	}
}

func TestDefaultFallsBackToGoWithoutONNXRuntime(t *testing.T) {
	isolate(t)
	t.Setenv("ONNXRUNTIME_SHARED_LIBRARY_PATH", filepath.Join(t.TempDir(), "missing", "libonnxruntime.so"))
	if lib, searched := FindONNXRuntime(); lib != "" {
		t.Fatalf("FindONNXRuntime found %q in an isolated environment (searched %v)", lib, searched)
	}
	spec, passedOver := DefaultSpec()
	if spec != "go" {
		t.Fatalf("DefaultSpec() = %q (passed over %v); want \"go\" when no ONNX Runtime library or PJRT plugin exists", spec, passedOver)
	}
	b, err := New("")
	if err != nil {
		t.Fatalf("New(\"\") without any engine installed: %v", err)
	}
	defer b.Finalize()
	if got := SpecOf(b); got != "go" {
		t.Fatalf("New(\"\") gave backend %q; want go", got)
	}
	_, err = New("onnx:cpu")
	if err == nil || !strings.Contains(err.Error(), "make setup") || !strings.Contains(err.Error(), "ONNXRUNTIME_SHARED_LIBRARY_PATH") {
		t.Fatalf("New(\"onnx:cpu\") without the library: error = %v; want one naming the search and `make setup`", err)
	}
}

func TestEnvironmentSelectsBackend(t *testing.T) {
	isolate(t)
	t.Setenv(EnvGoMLXBackend, "xla:cuda")
	t.Setenv(EnvBackend, "go") // TRUSTFORMERS_BACKEND wins over GOMLX_BACKEND.
	if spec, source := Requested(); spec != "go" || source != EnvBackend {
		t.Fatalf("Requested() = %q from %q; want \"go\" from %s", spec, source, EnvBackend)
	}
	r := Describe()
	if r.Err != nil || r.Backend != "go" {
		t.Fatalf("Describe() with %s=go: backend %q, err %v", EnvBackend, r.Backend, r.Err)
	}
}

func TestMissingCUDAPluginListsSearchPaths(t *testing.T) {
	isolate(t)
	venv := filepath.Join(t.TempDir(), "venv")
	t.Setenv("VIRTUAL_ENV", venv)
	if err := os.MkdirAll(filepath.Join(venv, "lib", "python3.12", "site-packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBackend, "xla:cuda")
	r := Describe()
	if r.Err == nil {
		t.Fatalf("Describe() with %s=xla:cuda and no plugin: no error (backend %q)", EnvBackend, r.Backend)
	}
	msg := r.Err.Error()
	for _, want := range []string{"no PJRT plugin \"cuda\"", "go-xla", "jax_plugins/xla_cuda*/xla_cuda_plugin.so",
		filepath.Join(venv, "lib", "python3.12", "site-packages"), "$PJRT_PLUGIN_LIBRARY_PATH (unset)", "Fix:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error for a missing CUDA plugin does not mention %q:\n%s", want, msg)
		}
	}
}

func TestFindPluginsInJAXAndPJRTLayouts(t *testing.T) {
	isolate(t)
	root := t.TempDir()
	jaxPlugin := filepath.Join(root, "venv", "lib", "python3.11", "site-packages", "jax_plugins", "xla_cuda12", "xla_cuda_plugin.so")
	rocmPlugin := filepath.Join(root, "pylib", "jax_plugins", "xla_rocm7", "xla_rocm_plugin.so")
	cpuPlugin := filepath.Join(root, "pjrt", "pjrt_c_api_cpu_v0.83.1_plugin.so")
	for _, f := range []string{jaxPlugin, rocmPlugin, cpuPlugin} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("not a real plugin"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("VIRTUAL_ENV", filepath.Join(root, "venv"))
	t.Setenv("PYTHONPATH", filepath.Join(root, "pylib"))
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", filepath.Join(root, "pjrt"))

	got := map[string]Plugin{}
	for _, p := range FindPlugins() {
		got[p.Name] = p
	}
	for _, want := range []Plugin{
		{Name: "cuda", Path: jaxPlugin, Source: "JAX (VIRTUAL_ENV)"},
		{Name: "rocm", Path: rocmPlugin, Source: "JAX (PYTHONPATH)"},
		{Name: "cpu", Path: cpuPlugin, Source: "PJRT_PLUGIN_LIBRARY_PATH"},
	} {
		if got[want.Name] != want {
			t.Errorf("FindPlugins()[%q] = %+v; want %+v", want.Name, got[want.Name], want)
		}
	}

	// The fake file is found but cannot load: an error, never a panic.
	if _, err := New("xla:cuda"); err == nil {
		t.Errorf("New(\"xla:cuda\") loaded a fake plugin file without error")
	}
	// The default passes over the unusable accelerator and the unusable CPU plugin.
	spec, passedOver := DefaultSpec()
	if spec != "go" || len(passedOver) != 3 {
		t.Errorf("DefaultSpec() = %q, passed over %q; want go after passing over cuda, rocm and cpu", spec, passedOver)
	}
}

func TestONNXRuntimeIsDefaultWhenInstalled(t *testing.T) {
	lib, searched := FindONNXRuntime()
	if lib == "" {
		if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
			t.Fatalf("ONNX Runtime library not found after `make setup`; searched %v", searched)
		}
		t.Skipf("ONNX Runtime library not installed (run `make setup`); searched %v", searched)
	}
	for _, v := range []string{EnvBackend, EnvGoMLXBackend, "PJRT_PLUGIN_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH"} {
		t.Setenv(v, "")
	}
	t.Setenv("ONNXRUNTIME_SHARED_LIBRARY_PATH", lib)
	r := Describe()
	if r.Err != nil || r.Backend != "onnx:cpu" {
		t.Fatalf("Describe() with ONNX Runtime at %s: backend %q, err %v; want onnx:cpu", lib, r.Backend, r.Err)
	}
	if r.Version == "" || !strings.Contains(r.String(), lib) {
		t.Fatalf("report does not name the ONNX Runtime version and library:\n%s", r)
	}
	checkAddition(t, "onnx:cpu")
}

func TestGoBackendComputes(t *testing.T) {
	isolate(t)
	checkAddition(t, "go")
}

// checkAddition runs a small graph on the backend named by spec.
func checkAddition(t *testing.T, spec string) {
	t.Helper()
	b, err := New(spec)
	if err != nil {
		t.Fatalf("New(%q): %v", spec, err)
	}
	defer b.Finalize()
	out, err := graph.ExecOnce(b, func(x *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Mul(x, x))
	}, []float32{1, 2, 3})
	if err != nil {
		t.Fatalf("%s: exec: %v", spec, err)
	}
	if got := out.Value().(float32); got != 14 {
		t.Fatalf("%s: sum of squares of [1 2 3] = %v; want 14", spec, got)
	}
}

func TestReportMentionsSIMD(t *testing.T) {
	isolate(t)
	r := DescribeSpec("go")
	want := "simd kernels: on"
	if !SIMD() {
		want = "simd kernels: OFF: rebuild with GOEXPERIMENT=simd"
	}
	if !strings.Contains(r.String(), want) {
		t.Fatalf("report lacks %q:\n%s", want, r)
	}
	r.SIMD = false
	if s := r.String(); !strings.Contains(s, "simd kernels: OFF: "+SIMDFix) {
		t.Fatalf("a report of a binary without SIMD lacks the fix %q:\n%s", SIMDFix, s)
	}
}

// TestSIMDFlagFollowsTheBuild checks which file sets simdBuild in a build
// with and without GOEXPERIMENT=simd, by asking the go command rather than
// building the package without SIMD (which rebuilds GoMLX and the standard
// library: minutes on a cold cache). With TestReportMentionsSIMD it covers
// what `trustformers doctor` prints from a binary built without it.
func TestSIMDFlagFollowsTheBuild(t *testing.T) {
	for _, tc := range []struct{ experiment, want, not string }{
		{"simd", "simd_on.go", "simd_off.go"},
		{"", "simd_off.go", "simd_on.go"},
	} {
		cmd := exec.Command("go", "list", "-f", "{{.GoFiles}}", ".")
		cmd.Env = append(os.Environ(), "GOEXPERIMENT="+tc.experiment)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list (GOEXPERIMENT=%q): %v\n%s", tc.experiment, err, out)
		}
		if files := string(out); !strings.Contains(files, tc.want) || strings.Contains(files, tc.not) {
			t.Errorf("GOEXPERIMENT=%q builds %s; want %s and not %s", tc.experiment, strings.TrimSpace(files), tc.want, tc.not)
		}
	}
}

// cpuPlugin returns XLA's CPU plugin as FindPlugins finds it from the
// repository (`make setup` installs it into .deps/pjrt), skipping the test
// when it is missing, or failing it after `make setup`.
func cpuPlugin(t *testing.T) Plugin {
	t.Helper()
	p, ok := firstPlugin(FindPlugins(), "cpu")
	if !ok {
		if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
			t.Fatalf("XLA's CPU PJRT plugin not found after `make setup` (searched %d places)", len(PluginSearchPaths()))
		}
		t.Skip("XLA's CPU PJRT plugin not installed (run `make setup`, which fetches the xla-cpu-pjrt wheel)")
	}
	return p
}

func TestXLACPUHostDevicesAllReduce(t *testing.T) {
	cpuPlugin(t)
	b, err := New("xla:cpu,devices=4")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if n := b.NumDevices(); n != 4 {
		t.Fatalf("xla:cpu,devices=4 has %d devices", n)
	}
	if spec := SpecOf(b); spec != "xla:cpu,devices=4" {
		t.Errorf("SpecOf = %q, want xla:cpu,devices=4", spec)
	}
	mesh, err := distributed.NewDeviceMesh([]int{4}, []string{"data"})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.NewGraph(b, "allreduce")
	if err := g.SetSPMD(mesh); err != nil {
		t.Fatal(err)
	}
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2))
	if err := g.Compile(g.Distributed().AllReduceOne(x, compute.ReduceOpSum)); err != nil {
		t.Fatal(err)
	}
	outs := g.Run([]float32{1, 2}, []float32{3, 4}, []float32{5, 6}, []float32{7, 8})
	if len(outs) != 4 {
		t.Fatalf("all-reduce over 4 devices returned %d outputs", len(outs))
	}
	for i, o := range outs {
		if got := o.Value().([]float32); got[0] != 16 || got[1] != 20 {
			t.Errorf("device %d: all-reduce sum = %v, want [16 20]", i, got)
		}
	}
	r := DescribeSpec("xla:cpu,devices=4")
	if r.Err != nil || len(r.Devices) != 4 || !strings.Contains(r.String(), "devices:      4") {
		t.Errorf("Describe(xla:cpu,devices=4) does not list 4 devices (err %v):\n%s", r.Err, r)
	}
}

func TestDevicesOptionErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"go,devices=2", `"xla:cpu,devices=2"`},
		{"onnx:cpu,devices=4", "several devices need XLA"},
		{"xla:cpu,devices=0", "from 1 to 256"},
		{"xla:cpu,devices=four", "from 1 to 256"},
		{"xla:cpu,devices=100000", "from 1 to 256"},
	} {
		b, err := New(tc.spec)
		if err == nil {
			b.Finalize()
			t.Errorf("New(%q): no error", tc.spec)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "devices") {
			t.Errorf("New(%q) error %q; want it to name the devices option and say %s", tc.spec, err, tc.want)
		}
	}
}

func TestWithoutXNNPack(t *testing.T) {
	t.Setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
	withoutXNNPack()
	if got, want := os.Getenv("XLA_FLAGS"), "--xla_cpu_enable_fast_math=false --xla_cpu_use_xnnpack=false"; got != want {
		t.Errorf("XLA_FLAGS = %q, want %q", got, want)
	}
	t.Setenv("XLA_FLAGS", "--xla_cpu_use_xnnpack=true")
	withoutXNNPack()
	if got := os.Getenv("XLA_FLAGS"); got != "--xla_cpu_use_xnnpack=true" {
		t.Errorf("a user's XNNPACK choice was changed: XLA_FLAGS = %q", got)
	}
}

// The image of a GPU machine may carry JAX's CUDA plugin in a virtual
// environment that is on PATH but not activated, or a user may point
// PJRT_PLUGIN_LIBRARY_PATH at the folder of JAX's plugin file: "xla:cuda"
// finds it either way.
func TestFindJAXPluginBesidePythonOnPATHOrInPJRTPath(t *testing.T) {
	for _, tc := range []struct {
		name, source string
		setup        func(root, plugin string)
	}{
		{"venv on PATH", "JAX (python3 on PATH)", func(root, _ string) {
			bin := filepath.Join(root, "opt", "torch", ".venv", "bin")
			if err := os.MkdirAll(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(bin, "python3"), nil, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", bin)
		}},
		{"PJRT_PLUGIN_LIBRARY_PATH names JAX's folder", "PJRT_PLUGIN_LIBRARY_PATH", func(_, plugin string) {
			t.Setenv("PATH", "")
			t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", filepath.Dir(plugin))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			root := t.TempDir()
			plugin := filepath.Join(root, "opt", "torch", ".venv", "lib", "python3.12", "site-packages", "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
			if err := os.MkdirAll(filepath.Dir(plugin), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(plugin, []byte("not a real plugin"), 0o644); err != nil {
				t.Fatal(err)
			}
			tc.setup(root, plugin)
			p, ok := firstPlugin(FindPlugins(), "cuda")
			if want := (Plugin{Name: "cuda", Path: plugin, Source: tc.source}); !ok || p != want {
				t.Errorf("FindPlugins() cuda = %+v (found %v); want %+v", p, ok, want)
			}
		})
	}
}
