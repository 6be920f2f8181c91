package xla

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/gomlx/go-xla/installer"
)

// Plugin is a PJRT plugin file found on this machine.
type Plugin struct {
	// Name is the plugin's platform: "cuda", "rocm", "tpu", "cpu", or what its
	// file name says.
	Name string
	// Path is the plugin's absolute path.
	Path string
	// Source says where it was found, e.g. "PJRT_PLUGIN_LIBRARY_PATH" or "JAX (VIRTUAL_ENV)".
	Source string
}

// SearchPath is one place FindPlugins looks: a folder and the file-name
// patterns it globs there.
type SearchPath struct {
	Dir      string
	Patterns []string
	Source   string
}

// Pattern returns the search path as one glob-like string, for messages.
func (s SearchPath) Pattern() string {
	if len(s.Patterns) == 1 {
		return filepath.Join(s.Dir, s.Patterns[0])
	}
	return filepath.Join(s.Dir, "{"+strings.Join(s.Patterns, ",")+"}")
}

// Plugin file names that go-xla's installer and the XLA project use
// (xla_cpu_pjrt.so is the name inside Google's xla-cpu-pjrt wheel), and
// JAX's own (xla_cuda_plugin.so, inside its jax-cuda*-pjrt wheels), so
// that PJRT_PLUGIN_LIBRARY_PATH may name the folder of a JAX plugin.
var pjrtPatterns = []string{"pjrt_c_api_*_plugin.so", "pjrt-plugin-*.so", "pjrt_plugin_*.so", "xla_*_pjrt.so", "xla_*_plugin.so"}

// Plugin file layouts that a JAX installation ships inside site-packages.
var jaxPatterns = []string{
	"jax_plugins/xla_cuda*/xla_cuda_plugin.so",
	"jax_plugins/xla_rocm*/xla_rocm_plugin.so",
	"libtpu/libtpu.so",
}

var rePluginName = []*regexp.Regexp{
	regexp.MustCompile(`pjrt_c_api_(.+)_plugin\.so$`),
	regexp.MustCompile(`pjrt[-_]plugin[-_](.+)\.so$`),
	regexp.MustCompile(`xla_(cuda|rocm)_plugin\.so$`),
	regexp.MustCompile(`xla_([a-z]+[0-9]*)_pjrt\.so$`),
	regexp.MustCompile(`lib(tpu)\.so$`),
}

// pluginName maps a plugin file name to its platform name ("cuda", "cpu", ...).
// Versioned names such as "cpu_v0.83.1" or "cuda12" keep only the platform.
func pluginName(path string) string {
	base := filepath.Base(path)
	for _, re := range rePluginName {
		if m := re.FindStringSubmatch(base); m != nil {
			name := m[1]
			if i := strings.IndexAny(name, "_-"); i > 0 {
				name = name[:i]
			}
			for _, platform := range []string{"cuda", "rocm", "tpu", "cpu"} {
				if strings.HasPrefix(name, platform) {
					return platform
				}
			}
			return name
		}
	}
	return ""
}

// PluginSearchPaths lists, in order, every place FindPlugins looks:
// PJRT_PLUGIN_LIBRARY_PATH, the .deps/pjrt folder `make setup` fills (XLA's
// CPU plugin, found from the working directory upwards), go-xla's install
// folders (user and system), and
// the site-packages folders of Python environments where JAX installs its
// CUDA, ROCm and TPU plugins (VIRTUAL_ENV, CONDA_PREFIX, PYTHONPATH, the
// environment of each python3 on PATH, the user's ~/.local, /usr/local and
// /usr).
func PluginSearchPaths() []SearchPath {
	var paths []SearchPath
	for _, dir := range filepath.SplitList(os.Getenv("PJRT_PLUGIN_LIBRARY_PATH")) {
		if dir != "" {
			paths = append(paths, SearchPath{Dir: dir, Patterns: pjrtPatterns, Source: "PJRT_PLUGIN_LIBRARY_PATH"})
		}
	}
	if dir := pjrtDirInRepo(); dir != "" {
		paths = append(paths, SearchPath{Dir: dir, Patterns: pjrtPatterns, Source: "make setup"})
	}
	if lib, err := installer.DefaultHomeLibPath(); err == nil {
		paths = append(paths, SearchPath{Dir: filepath.Join(lib, "go-xla"), Patterns: pjrtPatterns, Source: "go-xla user install"})
	}
	paths = append(paths, SearchPath{Dir: "/usr/local/lib/go-xla", Patterns: pjrtPatterns, Source: "go-xla system install"})
	for _, site := range pythonSitePackages() {
		paths = append(paths, SearchPath{Dir: site.dir, Patterns: jaxPatterns, Source: "JAX (" + site.source + ")"})
	}
	return paths
}

// pjrtInRepo is where `make setup` puts XLA's CPU plugin, relative to the
// repository root.
const pjrtInRepo = ".deps/pjrt"

// pjrtDirInRepo returns the first .deps/pjrt folder found from the working
// directory upwards (tests run in package folders), or "".
func pjrtDirInRepo() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if info, err := os.Stat(filepath.Join(dir, pjrtInRepo)); err == nil && info.IsDir() {
			return filepath.Join(dir, pjrtInRepo)
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

type sitePackages struct{ dir, source string }

// pythonSitePackages lists candidate site-packages folders. Folders matching
// lib/python3.*/ are expanded with a glob, so any Python 3 minor version works.
func pythonSitePackages() []sitePackages {
	var out []sitePackages
	seen := map[string]bool{}
	add := func(source string, globs ...string) {
		for _, g := range globs {
			matches, _ := filepath.Glob(g)
			sort.Strings(matches)
			for _, m := range matches {
				if !seen[m] {
					seen[m] = true
					out = append(out, sitePackages{dir: m, source: source})
				}
			}
		}
	}
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if prefix := os.Getenv(v); prefix != "" {
			add(v, filepath.Join(prefix, "lib", "python3*", "site-packages"))
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PYTHONPATH")) {
		if dir != "" {
			add("PYTHONPATH", dir)
		}
	}
	// A virtual environment whose bin folder is on PATH but that is not
	// activated (an image whose python3 is /opt/NAME/.venv/bin/python3):
	// its site-packages lie beside its bin folder. Nothing is run.
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if info, err := os.Stat(filepath.Join(dir, "python3")); dir != "" && err == nil && !info.IsDir() {
			add("python3 on PATH", filepath.Join(filepath.Dir(dir), "lib", "python3*", "site-packages"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		add("user site-packages", filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
	}
	add("system site-packages",
		"/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
		"/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
		"/opt/conda/lib/python3*/site-packages")
	return out
}

// FindPlugins returns the PJRT plugins found in PluginSearchPaths, in search
// order. It only looks at file names: nothing is loaded, so a plugin that is
// found may still fail to start (no driver, no device).
func FindPlugins() []Plugin {
	var found []Plugin
	seen := map[string]bool{}
	for _, sp := range PluginSearchPaths() {
		for _, pattern := range sp.Patterns {
			matches, _ := filepath.Glob(filepath.Join(sp.Dir, pattern))
			sort.Strings(matches)
			for _, m := range matches {
				abs, err := filepath.Abs(m)
				if err != nil || seen[abs] {
					continue
				}
				if info, err := os.Stat(abs); err != nil || info.IsDir() {
					continue
				}
				name := pluginName(abs)
				if name == "" {
					continue
				}
				seen[abs] = true
				found = append(found, Plugin{Name: name, Path: abs, Source: sp.Source})
			}
		}
	}
	return found
}

// InstallPlugin downloads go-xla's PJRT plugin for platform name ("cpu",
// "cuda", ...) into ~/.local/lib/go-xla. It is the only function in this
// package that uses the network; `trustformers doctor --install-xla` and
// TRUSTFORMERS_AUTO_INSTALL=1 call it.
func InstallPlugin(name string) error {
	if name == "" {
		return installer.AutoInstall("", true, installer.Normal)
	}
	return installer.AutoInstallPlugin(name, "", true, installer.Normal)
}
