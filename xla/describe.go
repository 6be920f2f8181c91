package xla

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
)

// SIMDFix is the advice printed when a binary lacks the go backend's SIMD kernels.
const SIMDFix = "rebuild with GOEXPERIMENT=simd (the Makefile and the notebook kernel set it: export GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd); without it the go backend runs about 10x slower"

// SIMD reports whether this binary was built with GOEXPERIMENT=simd, so that
// GoMLX's go backend has its AVX2/AVX-512 kernels.
func SIMD() bool { return simdBuild }

// Report describes the machine's compute engines and the backend that a spec
// selects. Describe and DescribeSpec fill it; String formats it for people.
type Report struct {
	// Requested is the spec asked for ("" when the default is used) and
	// RequestedFrom where it came from: "argument", TRUSTFORMERS_BACKEND,
	// GOMLX_BACKEND or "default".
	Requested, RequestedFrom string
	// Backend is the spec of the backend created, e.g. "onnx:cpu" or "go".
	Backend string
	// Description and Version are the engine's own words and version.
	Description, Version string
	// Devices describes each device the backend sees.
	Devices []string
	// PassedOver lists engines the default choice tried and skipped, with why.
	PassedOver []string
	// Err is why the requested backend is unusable; nil when it works.
	Err error

	// Plugins are the PJRT plugins found (see FindPlugins) and PluginSearch the
	// places searched.
	Plugins      []Plugin
	PluginSearch []SearchPath
	// ONNXRuntime is the ONNX Runtime library found ("" if none),
	// ONNXRuntimeVersion its version when known, ONNXSearched where we looked.
	ONNXRuntime, ONNXRuntimeVersion string
	ONNXSearched                    []string

	// SIMD is true when the binary was built with GOEXPERIMENT=simd;
	// CPUAVX2 and CPUAVX512 say what the processor offers.
	SIMD, CPUAVX2, CPUAVX512 bool
	CPUModel                 string
	GoVersion, OS, Arch      string
	GOMAXPROCS, NumCPU       int
	// AutoInstall is true when TRUSTFORMERS_AUTO_INSTALL allows downloads.
	AutoInstall bool
}

// Describe reports on the backend that New("") would create (following
// TRUSTFORMERS_BACKEND, GOMLX_BACKEND or the default) and on every engine
// found. It creates that backend and releases it before returning.
func Describe() *Report {
	spec, source := Requested()
	return describe(spec, source)
}

// DescribeSpec is Describe for an explicit spec; an empty spec behaves as Describe.
func DescribeSpec(spec string) *Report {
	if spec == "" {
		return Describe()
	}
	return describe(spec, "argument")
}

func describe(spec, source string) *Report {
	r := &Report{
		Requested: spec, RequestedFrom: source,
		Plugins: FindPlugins(), PluginSearch: PluginSearchPaths(),
		SIMD: simdBuild, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), AutoInstall: AutoInstallEnabled(),
	}
	r.CPUModel, r.CPUAVX2, r.CPUAVX512 = cpuInfo()
	r.ONNXRuntime, r.ONNXSearched = FindONNXRuntime()
	if r.ONNXRuntime != "" {
		r.ONNXRuntimeVersion = onnxLibVersion(r.ONNXRuntime)
	}

	var b compute.Backend
	if spec == "" {
		b, r.PassedOver, r.Err = newDefault()
	} else {
		b, r.Err = New(spec)
	}
	if r.Err != nil {
		return r
	}
	defer b.Finalize()
	r.Backend = SpecOf(b)
	r.Description = b.Description()
	if ob, ok := b.(*onnxbackend.Backend); ok {
		r.Version = ob.Version()
		r.ONNXRuntimeVersion = ob.Version()
	}
	for i := range b.NumDevices() {
		r.Devices = append(r.Devices, b.DeviceDescription(compute.DeviceNum(i)))
	}
	return r
}

// String formats the report as the text `trustformers doctor` prints.
func (r *Report) String() string {
	var sb strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&sb, format+"\n", args...) }
	requested := r.Requested
	if requested == "" {
		requested = "(best available)"
	}
	p("requested:    %s  [from %s]", requested, r.RequestedFrom)
	if r.Err != nil {
		p("backend:      UNUSABLE")
		p("error:        %s", indent(r.Err.Error(), "              "))
	} else {
		p("backend:      %s", r.Backend)
		p("description:  %s", r.Description)
		if r.Version != "" {
			p("version:      %s", r.Version)
		}
		p("devices:      %d", len(r.Devices))
		for i, d := range r.Devices {
			p("  device %d:   %s", i, d)
		}
	}
	for _, po := range r.PassedOver {
		p("passed over:  %s", po)
	}
	p("engines found:")
	p("  go:         always (pure Go, built in)")
	if r.ONNXRuntime != "" {
		v := r.ONNXRuntimeVersion
		if v == "" {
			v = "version unknown until loaded"
		}
		p("  onnx:cpu:   %s (ONNX Runtime %s)", r.ONNXRuntime, v)
	} else {
		p("  onnx:cpu:   not found (searched %s; run `make setup`)", strings.Join(r.ONNXSearched, ", "))
	}
	if len(r.Plugins) == 0 {
		p("  xla:        no PJRT plugin found (searched %d places; see docs/devices.md)", len(r.PluginSearch))
	}
	for _, pl := range r.Plugins {
		p("  xla:%-7s %s [%s]", pl.Name+":", pl.Path, pl.Source)
	}
	simd := "on (built with GOEXPERIMENT=simd)"
	if !r.SIMD {
		simd = "OFF: " + SIMDFix
	}
	p("simd kernels: %s", simd)
	p("cpu:          %s; avx2=%v avx512=%v", r.CPUModel, r.CPUAVX2, r.CPUAVX512)
	p("go:           %s %s/%s, GOMAXPROCS=%d, NumCPU=%d", r.GoVersion, r.OS, r.Arch, r.GOMAXPROCS, r.NumCPU)
	auto := "off (nothing is downloaded; set TRUSTFORMERS_AUTO_INSTALL=1 to allow)"
	if r.AutoInstall {
		auto = "ON (TRUSTFORMERS_AUTO_INSTALL): missing plugins and libraries may be downloaded"
	}
	p("auto-install: %s", auto)
	return sb.String()
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// cpuInfo reads the processor model and its AVX2/AVX-512 flags from /proc/cpuinfo.
func cpuInfo() (model string, avx2, avx512 bool) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH, false, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(value)
			}
		case "flags":
			for _, flag := range strings.Fields(value) {
				avx2 = avx2 || flag == "avx2"
				avx512 = avx512 || flag == "avx512f"
			}
			return model, avx2, avx512
		}
	}
	return model, avx2, avx512
}
