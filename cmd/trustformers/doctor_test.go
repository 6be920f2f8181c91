package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// buildDoctor builds this command with the given GOEXPERIMENT into dir.
func buildDoctor(t *testing.T, dir, goexperiment string) string {
	t.Helper()
	bin := filepath.Join(dir, "trustformers-"+strings.ReplaceAll(goexperiment+"x", ",", "_"))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOEXPERIMENT="+goexperiment)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build (GOEXPERIMENT=%q): %v\n%s", goexperiment, err, out)
	}
	return bin
}

// trap is a local TCP listener that counts connections. Pointing the proxy
// variables at it makes any HTTP(S) download attempt visible.
func trap(t *testing.T) (addr string, count *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	count = &atomic.Int64{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			count.Add(1)
			c.Close()
		}
	}()
	return "http://" + l.Addr().String(), count
}

// runDoctorBinary runs `bin doctor` with a clean environment plus env, with
// every proxy variable pointing at a connection trap, and fails the test if
// anything tried to connect.
func runDoctorBinary(t *testing.T, bin string, env ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	proxy, connections := trap(t)
	home := t.TempDir()
	cmd := exec.Command(bin, "doctor")
	cmd.Dir = home
	cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "http_proxy=" + proxy, "https_proxy=" + proxy}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	exitCode = 0
	if ee, ok := err.(*exec.ExitError); ok {
		exitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s doctor: %v", bin, err)
	}
	if n := connections.Load(); n > 0 {
		t.Errorf("doctor made %d network connection(s) through the proxy trap", n)
	}
	if strings.Contains(errOut.String(), "goroutine ") || strings.Contains(errOut.String(), "panic:") {
		t.Errorf("doctor panicked:\n%s", errOut.String())
	}
	return out.String(), errOut.String(), exitCode
}

func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	bin := buildDoctor(t, dir, "simd")

	t.Run("go backend", func(t *testing.T) {
		out, errOut, code := runDoctorBinary(t, bin, "TRUSTFORMERS_BACKEND=go")
		if code != 0 || !strings.Contains(out, "backend:      go\n") || !strings.Contains(out, "simd kernels: on") {
			t.Fatalf("doctor with TRUSTFORMERS_BACKEND=go: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("xla:cuda missing", func(t *testing.T) {
		out, errOut, code := runDoctorBinary(t, bin, "TRUSTFORMERS_BACKEND=xla:cuda")
		if code == 0 {
			t.Fatalf("doctor with TRUSTFORMERS_BACKEND=xla:cuda and no plugin exited 0:\n%s", out)
		}
		for _, want := range []string{"UNUSABLE", "no PJRT plugin \"cuda\"", "jax_plugins/xla_cuda*/xla_cuda_plugin.so",
			"go-xla", "PJRT_PLUGIN_LIBRARY_PATH"} {
			if !strings.Contains(out+errOut, want) {
				t.Errorf("doctor output lacks %q:\n%s%s", want, out, errOut)
			}
		}
	})

	t.Run("default without ONNX Runtime falls back to go", func(t *testing.T) {
		out, errOut, code := runDoctorBinary(t, bin, "ONNXRUNTIME_SHARED_LIBRARY_PATH=/nonexistent/libonnxruntime.so")
		if code != 0 || !strings.Contains(out, "backend:      go\n") || !strings.Contains(out, "onnx:cpu:   not found") {
			t.Fatalf("doctor without ONNX Runtime: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("xla:cpu with 4 host devices", func(t *testing.T) {
		plugins, err := filepath.Abs("../../.deps/pjrt")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(plugins, "pjrt_c_api_cpu_plugin.so")); err != nil {
			if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
				t.Fatalf("XLA's CPU plugin missing after `make setup`: %v", err)
			}
			t.Skipf("XLA's CPU plugin not installed (run `make setup`): %v", err)
		}
		out, errOut, code := runDoctorBinary(t, bin, "TRUSTFORMERS_BACKEND=xla:cpu,devices=4", "PJRT_PLUGIN_LIBRARY_PATH="+plugins)
		for _, want := range []string{"backend:      xla:cpu,devices=4\n", "devices:      4\n", "device 3:", "xla:cpu:    " + plugins} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("doctor with xla:cpu,devices=4: exit %d, output lacks %q:\n%s%s", code, want, out, errOut)
			}
		}
	})

	t.Run("default with ONNX Runtime", func(t *testing.T) {
		lib := os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH")
		if lib == "" {
			if abs, err := filepath.Abs("../../.deps/onnxruntime/libonnxruntime.so.1"); err == nil {
				lib = abs
			}
		}
		if _, err := os.Stat(lib); err != nil {
			if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
				t.Fatalf("ONNX Runtime library missing after `make setup`: %v", err)
			}
			t.Skipf("ONNX Runtime library not installed (run `make setup`): %v", err)
		}
		out, errOut, code := runDoctorBinary(t, bin, "ONNXRUNTIME_SHARED_LIBRARY_PATH="+lib)
		if code != 0 || !strings.Contains(out, "backend:      onnx:cpu\n") || !strings.Contains(out, lib) ||
			!strings.Contains(out, "ONNX Runtime 1.30.0") {
			t.Fatalf("doctor with ONNX Runtime at %s: exit %d\n%s%s", lib, code, out, errOut)
		}
	})
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"fly"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command \"fly\"") {
		t.Fatalf("run(fly) = %d, stderr %q", code, errOut.String())
	}
}
