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
// [New] takes a spec such as "onnx:cpu" or "xla:cpu,devices=4" (XLA's CPU
// plugin presenting four host devices, for sharded programs on one CPU, as
// JAX tests its sharding); an empty spec means
// TRUSTFORMERS_BACKEND, else GOMLX_BACKEND, else [DefaultSpec]'s pick: an
// accelerator when a usable plugin is present, else ONNX Runtime, else XLA's
// CPU plugin, else "go". Nothing is downloaded unless the user opts in with
// TRUSTFORMERS_AUTO_INSTALL=1 (or `trustformers doctor --install-xla`).
//
// A plugin that the default choice would load, unasked, is first started in
// a child process — the running program again, which this package's init
// turns into a probe when TRUSTFORMERS_PJRT_PROBE is set — so that a broken
// plugin file is passed over instead of crashing the program. A plugin asked
// for by name is loaded directly, after the checks a file allows (an ELF
// shared library for this machine exporting GetPjrtApi).
package xla

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/gobackend"
	goxla "github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
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

// ParseSpec parses "engine[:config][,option...]". GoMLX's aliases are
// accepted ("onnxruntime" for "onnx"; "stablehlo", "hlo", "shlo" and "pjrt"
// for "xla"), a bare "onnx" means "onnx:cpu" and a bare "xla" "xla:cpu".
// The option "devices=N" asks for N devices: XLA's CPU plugin then presents
// N host devices ("xla:cpu,devices=4"), an accelerator plugin uses its first
// N; the go and ONNX Runtime engines have one device only.
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Spec{}, errors.New("empty backend spec")
	}
	// "go,devices=2" has options but no configuration name.
	engine, config := s, ""
	if i := strings.IndexAny(s, ":,"); i >= 0 {
		engine, config = s[:i], s[i+1:]
		if s[i] == ',' {
			config = "," + config
		}
	}
	engine = strings.ToLower(strings.TrimSpace(engine))
	config = strings.TrimSpace(config)
	switch engine {
	case "go", "simplego":
		return Spec{Engine: "go", Config: strings.TrimPrefix(config, ",")}, nil
	case "onnx", "onnxruntime", "ort":
		if config == "" || config[0] == ',' {
			config = "cpu" + config
		}
		return Spec{Engine: "onnx", Config: config}, nil
	case "xla", "stablehlo", "hlo", "shlo", "pjrt":
		if config != "" && config[0] == ',' {
			config = "cpu" + config
		}
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
// device; ONNX Runtime on the CPU; XLA's CPU plugin (one host device); the
// pure-Go backend. That is the order of `make bench`'s figures here
// (docs/benchmarks.md): ONNX Runtime leads on GPT-2, XLA's CPU plugin beats
// the go backend on decoding one sequence and on BERT, not on batched
// decoding.
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
		if n := bb.NumDevices(); n > 1 {
			return fmt.Sprintf("xla:%s,devices=%d", name, n)
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
		b, err := newProbedXLA(p.Path)
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
		b, err := newProbedXLA(p.Path)
		if err == nil {
			return b, passedOver, nil
		}
		passedOver = append(passedOver, fmt.Sprintf("xla:cpu (%s): %v", p.Path, err))
	}
	b, err := newGo("")
	return b, passedOver, err
}

// newProbedXLA creates a plugin that nobody asked for by name: only once
// a child process has started it (probePlugin), so that a broken plugin
// found on the machine is passed over instead of crashing the program.
func newProbedXLA(pluginPath string) (compute.Backend, error) {
	if err := probePlugin(pluginPath); err != nil {
		return nil, err
	}
	return newXLA(pluginPath, "", 0)
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
	config, devices, err := devicesOption(s.Config)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", s, err)
	}
	if devices > 1 && s.Engine != "xla" {
		return nil, fmt.Errorf("backend %q: the %s engine has one device; several devices need XLA, e.g. \"xla:cpu,devices=%d\" (see docs/sharding.md)", s, s.Engine, devices)
	}
	switch s.Engine {
	case "go":
		return newGo(config)
	case "onnx":
		lib, searched := FindONNXRuntime()
		if lib == "" && !AutoInstallEnabled() {
			return nil, fmt.Errorf("backend %q: ONNX Runtime library not found; searched %s; fix: run `make setup` (installs it from the npm package onnxruntime-node@%s), or set ONNXRUNTIME_SHARED_LIBRARY_PATH to a libonnxruntime.so, or set %s=1 to let GoMLX download it",
				s, strings.Join(searched, ", "), ONNXRuntimeVersion, EnvAutoInstall)
		}
		return newONNX(config, lib)
	case "xla":
		return newXLAFromConfig(s, config, devices)
	}
	return nil, fmt.Errorf("unknown backend engine %q", s.Engine)
}

// MaxHostDevices bounds the "devices=N" option of xla:cpu: each host device
// is a thread pool and a share of the machine, and far more devices than
// cores only slows every program down.
const MaxHostDevices = 256

// devicesOption removes a "devices=N" option from an engine's config
// ("cpu,devices=4" gives "cpu" and 4) and returns 0 when there is none.
func devicesOption(config string) (rest string, devices int, err error) {
	parts := strings.Split(config, ",")
	kept := parts[:0]
	for _, part := range parts {
		key, value, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(key) != "devices" {
			kept = append(kept, part)
			continue
		}
		n, convErr := strconv.Atoi(strings.TrimSpace(value))
		if convErr != nil || n < 1 || n > MaxHostDevices {
			return "", 0, fmt.Errorf("option devices=%q: want a whole number of devices from 1 to %d", value, MaxHostDevices)
		}
		devices = n
	}
	return strings.Join(kept, ","), devices, nil
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
	withoutORTTelemetry()
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
// FindPlugins (which, unlike go-xla, knows JAX's layout) and creates it with
// the given number of devices (0: see newXLA).
func newXLAFromConfig(s Spec, config string, devices int) (compute.Backend, error) {
	name, options, _ := strings.Cut(config, ",")
	if name == "" {
		name = "cpu"
	}
	if strings.HasPrefix(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return nil, fmt.Errorf("backend %q: PJRT plugin file: %w", s, err)
		}
		return newXLA(name, options, devices)
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
	return newXLA(p.Path, options, devices)
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

// withoutXNNPack turns off the XNNPACK kernels of XLA's CPU plugin, unless
// XLA_FLAGS already says whether to use them. With several host devices,
// a training step's all-reduce waits forever on some CPUs when XNNPACK
// runs the devices' products (seen on AMD EPYC with the pinned plugin: one
// device of two or four reaches the collective, the rest never do, and
// XLA aborts the process after 40 s). XLA reads XLA_FLAGS once per
// process, when the first client is made, so the flag is set for every
// CPU client, whatever its device count (docs/devices.md).
func withoutXNNPack() {
	flags := os.Getenv("XLA_FLAGS")
	if strings.Contains(flags, "xla_cpu_use_xnnpack") {
		return
	}
	os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" --xla_cpu_use_xnnpack=false"))
}

// newXLA creates the PJRT plugin at pluginPath with devices devices. XLA's
// CPU plugin presents that many host devices through its client option
// cpu_device_count (what JAX's --xla_force_host_platform_device_count
// sets), one when devices is 0 unless XLA_FLAGS sets that flag itself; an
// accelerator plugin is limited to its first devices (0: all of them). A
// count the plugin cannot give is an error.
func newXLA(pluginPath, options string, devices int) (compute.Backend, error) {
	config := pluginPath
	if options != "" {
		config += "," + options
	}
	if err := checkPluginFile(pluginPath); err != nil {
		return nil, err
	}
	cpu := pluginName(pluginPath) == "cpu"
	if cpu {
		if err := checkHostDevices(devices); err != nil {
			return nil, err
		}
		withoutXNNPack()
	}
	clientOptions := pjrt.NamedValuesMap{}
	if cpu && devices == 0 && !strings.Contains(os.Getenv("XLA_FLAGS"), "xla_force_host_platform_device_count") {
		// The plugin's own default is several host devices, which split the
		// machine's threads between them: one device unless asked.
		devices = 1
	}
	if devices > 0 {
		if cpu {
			clientOptions["cpu_device_count"] = int64(devices)
		} else {
			visible := make([]int64, devices)
			for i := range visible {
				visible[i] = int64(i)
			}
			clientOptions["visible_devices"] = visible
		}
	}
	b, err := guard("xla:"+config, func() (compute.Backend, error) { return goxla.NewWithOptions(config, clientOptions) })
	if err != nil {
		if devices > 0 {
			return nil, fmt.Errorf("%w (asked for %d devices)", err, devices)
		}
		return nil, err
	}
	if devices > 0 && b.NumDevices() != devices {
		n := b.NumDevices()
		b.Finalize()
		return nil, fmt.Errorf("xla:%s: asked for %d devices, the plugin gives %d", pluginName(pluginPath), devices, n)
	}
	return b, nil
}

// Address space that XLA's CPU plugin maps, measured with the pinned
// plugin: about 0.5 GB when it is loaded, and about 22 MB for each host
// device (its threads and their stacks).
const (
	cpuPluginBytes  = 512 << 20
	hostDeviceBytes = 24 << 20
)

// checkHostDevices refuses more host devices than the address space left
// (ulimit -v) can hold: XLA's CPU client creates each device's threads as
// it starts, and aborts the whole process when one cannot be created.
func checkHostDevices(devices int) error {
	need := float64(cpuPluginBytes) + float64(max(devices, 1))*hostDeviceBytes
	if have := AddressSpaceLeft(); need > have {
		return fmt.Errorf("xla:cpu,devices=%d: %d host devices need about %.1f GB of address space (%d MB each for their threads, and the plugin), and this process may map %.1f GB more under its address-space limit (ulimit -v); ask for fewer devices",
			devices, devices, need/1e9, hostDeviceBytes>>20, have/1e9)
	}
	return nil
}

// CompilesWholePrograms reports whether backend is an XLA engine, which
// compiles each graph into one fused program per device: writing into a
// buffer inside the graph (a KV cache's dynamic-update-slice) then costs a
// copy on the device, where ONNX Runtime and the go backend run such an
// update as several passes over the whole buffer.
func CompilesWholePrograms(backend compute.Backend) bool {
	_, ok := backend.(*goxla.Backend)
	return ok
}
