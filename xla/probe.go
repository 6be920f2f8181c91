package xla

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

// envProbe, set in a child process's environment, makes any program built
// with this package load the PJRT plugin it names, print its device count
// and exit, before the program's own main runs (see init and probePlugin).
const envProbe = "TRUSTFORMERS_PJRT_PROBE"

// probeTimeout bounds a plugin's start in the child: a GPU plugin may
// take seconds to initialize its devices, a broken one may hang.
const probeTimeout = 2 * time.Minute

// init answers a probe. It runs after backend.go's init (files are
// initialized in name order), which has turned GoMLX's downloads off.
func init() {
	path := os.Getenv(envProbe)
	if path == "" {
		return
	}
	b, err := newXLA(path, "", 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Printf("devices %d\n", b.NumDevices())
	b.Finalize()
	os.Exit(0)
}

// probePlugin starts the PJRT plugin at pluginPath in a child process —
// this program again, answered by init — and returns an error when the
// child fails, crashes, hangs or sees no device. Loading a plugin runs its
// code in the process (GetPjrtApi, then calls through the table it
// returns): a file that only looks like a plugin would otherwise crash the
// program that merely asked for the default backend.
func probePlugin(pluginPath string) error {
	probed.Lock()
	defer probed.Unlock()
	if err, ok := probed.results[pluginPath]; ok {
		return err
	}
	err := probeChild(pluginPath)
	probed.results[pluginPath] = err
	return err
}

// probed holds each plugin's probe result: one child per plugin and process.
var probed = struct {
	sync.Mutex
	results map[string]error
}{results: map[string]error{}}

func probeChild(pluginPath string) error {
	if err := checkPluginFile(pluginPath); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("not checked in a child process (%w); ask for it by name to load it here", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), envProbe+"="+pluginPath)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var devices int
	if err == nil {
		if _, scanErr := fmt.Sscanf(out.String(), "devices %d", &devices); scanErr != nil {
			err = fmt.Errorf("unexpected answer %q", out.String())
		} else if devices < 1 {
			err = errors.New("no device")
		}
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer in %s", probeTimeout)
	}
	return fmt.Errorf("failed in a child process (%v): %s", err, childSays(errOut.String()))
}

// childSays picks from a failed child's standard error the line that says
// why: a crash's signal or check, else the first line (the error of
// newXLA, from init).
func childSays(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	say := lines[0]
	for _, l := range lines {
		if strings.HasPrefix(l, "SIG") || strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.Contains(l, "Check failed") {
			say = l
			break
		}
	}
	if say = strings.TrimSpace(say); len(say) > 300 {
		say = say[:300] + "…"
	}
	return say
}

// elfMachines is the ELF machine of each architecture plugins exist for.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkPluginFile checks what can be checked of a PJRT plugin without
// running it: an ELF shared library for this machine that exports
// GetPjrtApi. It is an error naming the file otherwise.
func checkPluginFile(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not a PJRT plugin: not a shared library (%v)", path, err)
	}
	defer f.Close()
	if want, ok := elfMachines[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%s: not a PJRT plugin for this machine: built for %s, this is %s", path, f.Machine, want)
	}
	if f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: not a PJRT plugin: an ELF %s, not a shared library", path, f.Type)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return fmt.Errorf("%s: not a PJRT plugin: no dynamic symbols (%v)", path, err)
	}
	for _, s := range syms {
		if s.Name == "GetPjrtApi" && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			return nil
		}
	}
	return fmt.Errorf("%s: not a PJRT plugin: it does not export GetPjrtApi", path)
}
