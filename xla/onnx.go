package xla

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/trustformers/trustformers-go/files"
)

// EnvORTTelemetry is ONNX Runtime's switch for the telemetry it starts on
// Linux (from 1.29) when its environment is created: "1" turns it off.
const EnvORTTelemetry = "ORT_DISABLE_TELEMETRY"

// withoutORTTelemetry turns ONNX Runtime's telemetry off for this process
// unless ORT_DISABLE_TELEMETRY already says otherwise; ONNX Runtime reads
// it when the first environment is created, so it is set before every
// onnx backend is made. Left on, the telemetry (Microsoft's 1DS client)
// keeps an event store under ~/.cache/Microsoft, writes
// /tmp/mat-debug-PID.log, uploads when online — against "nothing leaves
// the machine unless asked" — and, to name the application, matches the
// whole of /proc/self/cmdline against a std::regex whose matcher recurses
// once per character, about 290 bytes of stack each: a command line of
// 29 KB (a long --prompt) overflows the 8 MB stack of the thread that
// creates the backend, a SIGSEGV inside CreateEnv (less under a smaller
// ulimit -s).
func withoutORTTelemetry() {
	if os.Getenv(EnvORTTelemetry) == "" {
		os.Setenv(EnvORTTelemetry, "1")
	}
}

// ONNXRuntimeVersion is the ONNX Runtime release that `make setup` installs
// (from the npm package onnxruntime-node, whose CPU library is MIT licensed).
const ONNXRuntimeVersion = "1.30.0"

// onnxLibInRepo is where `make setup` puts the library, relative to the
// repository root.
const onnxLibInRepo = ".deps/onnxruntime/libonnxruntime.so.1"

// FindONNXRuntime returns the path of the ONNX Runtime shared library that the
// onnx backend would load, or "" with the list of places searched:
// ONNXRUNTIME_SHARED_LIBRARY_PATH; the folder `make setup` installs into
// (.deps/onnxruntime in this repository, found from the working directory
// upwards); GoMLX's own install folder (~/.local/lib/onnxruntime); and the
// system library folders.
func FindONNXRuntime() (path string, searched []string) {
	if env := os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH"); env != "" {
		searched = append(searched, "ONNXRUNTIME_SHARED_LIBRARY_PATH="+env)
		if isFile(env) {
			return env, searched
		}
	} else {
		searched = append(searched, "ONNXRUNTIME_SHARED_LIBRARY_PATH (unset)")
	}
	var candidates []string
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, onnxLibInRepo))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".local", "lib", "onnxruntime", "libonnxruntime.so"))
	}
	candidates = append(candidates, "/usr/local/lib/libonnxruntime.so", "/usr/lib/libonnxruntime.so",
		"/usr/lib/x86_64-linux-gnu/libonnxruntime.so")
	for i, c := range candidates {
		if isFile(c) {
			return c, append(searched, candidates[:i+1]...)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		// Keep messages short: name the in-repo folder once, not every parent.
		searched = append(searched, filepath.Join(wd, "(and parents)", onnxLibInRepo))
	}
	for _, c := range candidates {
		if !strings.HasSuffix(c, onnxLibInRepo) {
			searched = append(searched, c)
		}
	}
	return "", searched
}

var reSoVersion = regexp.MustCompile(`\.so\.(\d+\.\d+\.\d+)$`)

// onnxLibVersion guesses the version of the library at path without loading
// it: from the npm package.json that `make setup` keeps beside it, or from a
// versioned file name that path resolves to.
func onnxLibVersion(path string) string {
	if data, err := files.ReadFile(filepath.Join(filepath.Dir(path), "package.json"), files.ConfigLimit); err == nil {
		var pkg struct{ Version string }
		if json.Unmarshal(data, &pkg) == nil && pkg.Version != "" {
			return pkg.Version
		}
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if m := reSoVersion.FindStringSubmatch(real); m != nil {
			return m[1]
		}
	}
	return ""
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}
