package xla

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

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
	if data, err := os.ReadFile(filepath.Join(filepath.Dir(path), "package.json")); err == nil {
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
