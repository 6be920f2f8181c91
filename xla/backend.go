// Package xla chooses and creates the compute backend that every model, trainer
// and notebook in trustformers-go runs on, and reports what the machine offers.
//
// Three engines sit behind GoMLX's one backend API:
//
//   - XLA through a PJRT plugin ("xla:cuda", "xla:rocm", "xla:tpu", "xla:cpu"),
//     found through PJRT_PLUGIN_LIBRARY_PATH, go-xla's install folders, or the
//     plugin that a JAX installation ships;
//   - ONNX Runtime on the CPU ("onnx:cpu"), loaded with dlopen from the library
//     that `make setup` installs or that ONNXRUNTIME_SHARED_LIBRARY_PATH names;
//   - GoMLX's pure-Go backend ("go"), which needs nothing installed.
//
// [New] takes a spec such as "onnx:cpu"; an empty spec means
// TRUSTFORMERS_BACKEND, else GOMLX_BACKEND, else [DefaultSpec]'s pick: an
// accelerator when a usable plugin is present, else ONNX Runtime, else XLA's CPU
// plugin, else "go". Nothing is downloaded unless the user opts in with
// TRUSTFORMERS_AUTO_INSTALL=1 (or `trustformers doctor --install-xla`).
package xla

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/gobackend"
	goxla "github.com/gomlx/go-xla/compute/xla"
)

// Environment variables read by this package.
const (
	// EnvBackend names the backend spec to use when New is given none.
	EnvBackend = "TRUSTFORMERS_BACKEND"
	// EnvGoMLXBackend is GoMLX's own variable, read when EnvBackend is unset.
	EnvGoMLXBackend = "GOMLX_BACKEND"
	// EnvAutoInstall, set to 1 or true, lets New download a missing PJRT plugin
	// or ONNX Runtime library. It is off by default: nothing is fetched at run time.
	EnvAutoInstall = "TRUSTFORMERS_AUTO_INSTALL"
)

func init() {
	// GoMLX's engines would otherwise download plugins or libraries on first use.
	goxla.EnableAutoInstall(false)
	onnxbackend.EnableAutoInstall(false)
}

// AutoInstallEnabled reports whether the user opted in to downloads through
// TRUSTFORMERS_AUTO_INSTALL.
func AutoInstallEnabled() bool {
	switch strings.ToLower(os.Getenv(EnvAutoInstall)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Spec is a parsed backend specification: an engine name ("go", "onnx" or
// "xla") and the engine's configuration (a plugin name such as "cuda", an
// execution provider such as "cpu", and comma-separated options).
type Spec struct {
	Engine string
	Config string
}

// String returns the spec in "engine:config" form, or the bare engine name.
func (s Spec) String() string {
	if s.Config == "" {
		return s.Engine
	}
	return s.Engine + ":" + s.Config
}

// ParseSpec parses "engine[:config]". GoMLX's aliases are accepted
// ("onnxruntime" for "onnx"; "stablehlo", "hlo", "shlo" and "pjrt" for "xla"),
// and a bare "onnx" means "onnx:cpu".
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Spec{}, errors.New("empty backend spec")
	}
	engine, config, _ := strings.Cut(s, ":")
	engine = strings.ToLower(strings.TrimSpace(engine))
	config = strings.TrimSpace(config)
	switch engine {
	case "go", "simplego":
		return Spec{Engine: "go", Config: config}, nil
	case "onnx", "onnxruntime", "ort":
		if config == "" {
			config = "cpu"
		}
		return Spec{Engine: "onnx", Config: config}, nil
	case "xla", "stablehlo", "hlo", "shlo", "pjrt":
		return Spec{Engine: "xla", Config: config}, nil
	}
	return Spec{}, fmt.Errorf("unknown backend %q in spec %q: known backends are \"go\", \"onnx:cpu\" and \"xla:<plugin>\" (xla:cuda, xla:rocm, xla:tpu, xla:cpu or xla:/path/to/plugin.so)", engine, s)
}

// Requested returns the spec that New("") would use and where it came from:
// the TRUSTFORMERS_BACKEND or GOMLX_BACKEND variable, or "default" when neither
// is set (then the returned spec is empty and DefaultSpec decides).
func Requested() (spec, source string) {
	if v := strings.TrimSpace(os.Getenv(EnvBackend)); v != "" {
		return v, EnvBackend
	}
	if v := strings.TrimSpace(os.Getenv(EnvGoMLXBackend)); v != "" {
		return v, EnvGoMLXBackend
	}
	return "", "default"
}

// New returns a GoMLX backend for spec. An empty spec means
// TRUSTFORMERS_BACKEND, else GOMLX_BACKEND, else the best engine present
// (see DefaultSpec). A requested engine that is missing is an error naming what
// was searched and how to fix it; New never panics.
func New(spec string) (compute.Backend, error) {
	if spec == "" {
		spec, _ = Requested()
	}
	if spec == "" {
		b, _, err := newDefault()
		return b, err
	}
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return newFromSpec(s)
}

// MustNew is New for notebooks and examples: it panics on error.
func MustNew(spec string) compute.Backend {
	b, err := New(spec)
	if err != nil {
		panic(err)
	}
	return b
}

// DefaultSpec returns the spec New picks when nothing is requested, with a
// line for each engine that was tried and passed over. The order is: an
// accelerator through XLA (cuda, rocm, tpu) whose plugin loads and sees a
// device; ONNX Runtime on the CPU; XLA's CPU plugin; the pure-Go backend.
func DefaultSpec() (spec string, passedOver []string) {
	b, passedOver, err := newDefault()
	if err != nil {
		return "go", append(passedOver, err.Error())
	}
	spec = SpecOf(b)
	b.Finalize()
	return spec, passedOver
}

// SpecOf returns the spec string that names backend b ("go", "onnx:cpu",
// "xla:cuda", ...).
func SpecOf(b compute.Backend) string {
	switch bb := b.(type) {
	case *goxla.Backend:
		name := bb.PluginName()
		for _, p := range FindPlugins() {
			if p.Path == name {
				name = p.Name
				break
			}
		}
		return "xla:" + name
	case *onnxbackend.Backend:
		return "onnx:" + strings.ToLower(bb.ExecutionProvider().String())
	}
	return b.String()
}

func newDefault() (compute.Backend, []string, error) {
	var passedOver []string
	plugins := FindPlugins()
	for _, accel := range []string{"cuda", "rocm", "tpu"} {
		p, ok := firstPlugin(plugins, accel)
		if !ok {
			continue
		}
		b, err := newXLA(p.Path, "")
		if err == nil {
			return b, passedOver, nil
		}
		passedOver = append(passedOver, fmt.Sprintf("xla:%s (%s): %v", accel, p.Path, err))
	}
	if lib, _ := FindONNXRuntime(); lib != "" {
		b, err := newONNX("cpu", lib)
		if err == nil {
			return b, passedOver, nil
		}
		passedOver = append(passedOver, fmt.Sprintf("onnx:cpu (%s): %v", lib, err))
	}
	if p, ok := firstPlugin(plugins, "cpu"); ok {
		b, err := newXLA(p.Path, "")
		if err == nil {
			return b, passedOver, nil
		}
		passedOver = append(passedOver, fmt.Sprintf("xla:cpu (%s): %v", p.Path, err))
	}
	b, err := newGo("")
	return b, passedOver, err
}

func firstPlugin(plugins []Plugin, name string) (Plugin, bool) {
	for _, p := range plugins {
		if p.Name == name {
			return p, true
		}
	}
	return Plugin{}, false
}

func newFromSpec(s Spec) (compute.Backend, error) {
	switch s.Engine {
	case "go":
		return newGo(s.Config)
	case "onnx":
		lib, searched := FindONNXRuntime()
		if lib == "" && !AutoInstallEnabled() {
			return nil, fmt.Errorf("backend %q: ONNX Runtime library not found; searched %s; fix: run `make setup` (installs it from the npm package onnxruntime-node@%s), or set ONNXRUNTIME_SHARED_LIBRARY_PATH to a libonnxruntime.so, or set %s=1 to let GoMLX download it",
				s, strings.Join(searched, ", "), ONNXRuntimeVersion, EnvAutoInstall)
		}
		return newONNX(s.Config, lib)
	case "xla":
		return newXLAFromConfig(s)
	}
	return nil, fmt.Errorf("unknown backend engine %q", s.Engine)
}

// guard turns a panic inside a GoMLX constructor into an error.
func guard(what string, fn func() (compute.Backend, error)) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%s: backend panicked: %v", what, r)
		}
	}()
	b, err = fn()
	if err == nil && b == nil {
		err = fmt.Errorf("%s: backend constructor returned no backend", what)
	}
	return b, err
}

func newGo(config string) (compute.Backend, error) {
	return guard("go", func() (compute.Backend, error) { return gobackend.New(config) })
}

func newONNX(config, lib string) (compute.Backend, error) {
	if AutoInstallEnabled() {
		onnxbackend.EnableAutoInstall(true)
		defer onnxbackend.EnableAutoInstall(false)
	}
	if lib != "" {
		config = config + "," + lib
	}
	return guard("onnx:"+config, func() (compute.Backend, error) { return onnxbackend.New(config) })
}

// newXLAFromConfig resolves the plugin named in an "xla:..." spec through
// FindPlugins (which, unlike go-xla, knows JAX's layout) and creates it.
func newXLAFromConfig(s Spec) (compute.Backend, error) {
	name, options, _ := strings.Cut(s.Config, ",")
	if name == "" {
		name = "cpu"
	}
	if strings.HasPrefix(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return nil, fmt.Errorf("backend %q: PJRT plugin file: %w", s, err)
		}
		return newXLA(name, options)
	}
	if AutoInstallEnabled() {
		if err := InstallPlugin(name); err != nil {
			return nil, fmt.Errorf("backend %q: %w", s, err)
		}
	}
	p, ok := firstPlugin(FindPlugins(), name)
	if !ok {
		var b strings.Builder
		fmt.Fprintf(&b, "backend %q: no PJRT plugin %q found. Searched:\n", s, name)
		for _, sp := range PluginSearchPaths() {
			fmt.Fprintf(&b, "  - %s (%s)\n", sp.Pattern(), sp.Source)
		}
		for _, v := range []string{"PJRT_PLUGIN_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH"} {
			if os.Getenv(v) == "" {
				fmt.Fprintf(&b, "  - $%s (unset)\n", v)
			}
		}
		b.WriteString(pluginFix(name))
		return nil, errors.New(b.String())
	}
	return newXLA(p.Path, options)
}

func pluginFix(name string) string {
	switch name {
	case "cuda":
		return "Fix: install JAX with CUDA (its jax_plugins/xla_cuda12/xla_cuda_plugin.so is found automatically), or set PJRT_PLUGIN_LIBRARY_PATH to a folder holding pjrt_c_api_cuda_plugin.so, or run `trustformers doctor --install-xla` (downloads go-xla's plugins). See docs/devices.md."
	case "rocm":
		return "Fix: install JAX with ROCm (jax_plugins/xla_rocm*/xla_rocm_plugin.so), or set PJRT_PLUGIN_LIBRARY_PATH to a folder holding pjrt_c_api_rocm_plugin.so."
	case "tpu":
		return "Fix: install libtpu (pip's libtpu package), or set PJRT_PLUGIN_LIBRARY_PATH to a folder holding pjrt_c_api_tpu_plugin.so."
	}
	return fmt.Sprintf("Fix: set PJRT_PLUGIN_LIBRARY_PATH to a folder holding pjrt_c_api_%s_plugin.so, or run `trustformers doctor --install-xla` (downloads go-xla's plugins).", name)
}

func newXLA(pluginPath, options string) (compute.Backend, error) {
	config := pluginPath
	if options != "" {
		config += "," + options
	}
	return guard("xla:"+config, func() (compute.Backend, error) { return goxla.New(config) })
}
