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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/trustformers/trustformers-go/lab"
)

// command is one subcommand: its one-line summary and its entry point.
// run returns nil on success or -h, a *lab.FlagError for a command line it
// cannot run (exit status 2; see errUsage and usageErrorf), or the error
// that stopped it (exit status 1), which run prints once as
// "trustformers NAME: error".
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"doctor": {"report backends, devices, engines found and build settings", runDoctor},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the process exit status.
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
	return exitStatus(args[0], cmd.run(args[1:], stdout, stderr), stderr)
}

// exitStatus prints what err says (once, prefixed with the subcommand's
// name) and returns the exit status for it, as lab.ExitCode does for an
// experiment: 0 for nil and -h, 2 for a command line that cannot run, 1
// for any other error.
func exitStatus(name string, err error, stderr io.Writer) int {
	var n *namedError
	if errors.As(err, &n) {
		name, err = n.name, n.err
	}
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(stderr, "trustformers %s: %v\n", name, u.err)
		return 2
	}
	code := lab.ExitCode(err)
	if code == 1 {
		fmt.Fprintf(stderr, "trustformers %s: %v\n", name, err)
	}
	return code
}

// errUsage is what a subcommand returns after printing its usage for a
// command line it cannot run (exit status 2).
var errUsage = &lab.FlagError{Err: errors.New("usage")}

// usageError is a command line that cannot run for a reason the usage does
// not show; run prints the reason (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

// usageErrorf returns a usageError with the formatted reason.
func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// namedError is the error of a nested subcommand ("runs list"), printed
// under its full name.
type namedError struct {
	name string
	err  error
}

func (e *namedError) Error() string { return e.err.Error() }
func (e *namedError) Unwrap() error { return e.err }

// named wraps a nested subcommand's error (nil stays nil).
func named(name string, err error) error {
	if err == nil {
		return nil
	}
	return &namedError{name, err}
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
