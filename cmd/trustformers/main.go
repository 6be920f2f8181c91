// Command trustformers is the command-line face of trustformers-go.
//
// Usage:
//
//	trustformers doctor [--backend SPEC] [--install-xla]
//
// doctor prints what xla.Describe reports (the backend that would be used, its
// devices, the engines found, whether the binary has the go backend's SIMD
// kernels) and exits non-zero when the requested backend is unusable. Later
// subcommands (generate, encode, train, quantize, bench) join it here.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: its one-line summary and its entry point, which
// returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"doctor": {"report backends, devices, engines found and build settings", runDoctor},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "trustformers: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: trustformers COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun `trustformers COMMAND -h` for a command's flags.")
}

// newFlagSet returns a flag set for a subcommand that writes its errors and
// usage to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: trustformers %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}
