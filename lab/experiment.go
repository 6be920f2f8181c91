package lab

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Experiment is an experiment script: its body lives in an importable
// package (lab/<name>/<package>) so that `go run ./lab/<name>` and
// `trustformers train <name>` run the same code with the same flags.
type Experiment struct {
	// Name is the experiment's folder under lab/ and under runs/.
	Name string
	// Summary is one line for command listings.
	Summary string
	// Run parses args as the experiment's flags and runs it, writing its
	// report to stdout and its progress to stderr. It returns a *FlagError
	// when the flags do not parse or ask for help (see ExitCode).
	Run func(args []string, stdout, stderr io.Writer) error
}

// FlagError is a command line that did not parse, or that asked for help
// (-h): the flag set has already printed the problem and the usage, so
// callers only set the exit status (see ExitCode).
type FlagError struct{ Err error }

// Error returns the flag package's message.
func (e *FlagError) Error() string { return e.Err.Error() }

// Unwrap returns the flag package's error (flag.ErrHelp for -h).
func (e *FlagError) Unwrap() error { return e.Err }

// ParseFlags parses args with fs (which should use flag.ContinueOnError)
// and wraps a failure in a *FlagError. Arguments left after the flags are an
// error too: experiments take flags only.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return &FlagError{Err: err}
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q (experiments take flags only)", fs.Arg(0))
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
		return &FlagError{Err: err}
	}
	return nil
}

// ExitCode is the process exit status for what an experiment's Run
// returned: 0 for success or -h, 2 for flags that did not parse, 1 for any
// other error.
func ExitCode(err error) int {
	var fe *FlagError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		return 2
	}
	return 1
}

// Main runs e as a command — the whole of an experiment's main function:
// flags from os.Args, the report on standard output, progress and errors
// ("NAME: error") on standard error, and ExitCode's status.
func Main(e Experiment) {
	err := e.Run(os.Args[1:], os.Stdout, os.Stderr)
	code := ExitCode(err)
	if code == 1 {
		fmt.Fprintf(os.Stderr, "%s: %v\n", e.Name, err)
	}
	os.Exit(code)
}

// EnvData names the folder of test data and checkpoints (models, corpora)
// that experiments and notebooks read by default.
const EnvData = "TRUSTFORMERS_DATA"

// DataPath returns the path of rel ("tinyshakespeare/input.txt") in the
// data folder: $TRUSTFORMERS_DATA when set, else the shared/data folder
// beside the repository, found from the working directory or, in a
// notebook, from the notebook's folder ($GONB_DIR) upwards. When none is
// found it returns the path under ../shared/data, which the caller's error
// then names.
func DataPath(rel string) string {
	if d := os.Getenv(EnvData); d != "" {
		return filepath.Join(d, rel)
	}
	if dir, ok := findUp(filepath.Join("..", "shared", "data")); ok {
		return filepath.Join(dir, rel)
	}
	return filepath.Join("..", "shared", "data", rel)
}

// EnvModels names the folder of the real trained checkpoints that
// `make setup` installs (all-MiniLM-L6-v2, SmolLM2-135M-Instruct, ...).
const EnvModels = "TRUSTFORMERS_MODELS"

// ModelPath returns the path of the real checkpoint name
// ("SmolLM2-135M-Instruct.Q4_1.gguf", "all-MiniLM-L6-v2"): in
// $TRUSTFORMERS_MODELS when set, else in the .deps/models folder where
// `make setup` puts them, found from the working directory or, in a
// notebook, from the notebook's folder ($GONB_DIR) upwards. When none is
// found it returns the path under .deps/models, which the loader's error
// then names.
func ModelPath(name string) string {
	if d := os.Getenv(EnvModels); d != "" {
		return filepath.Join(d, name)
	}
	if dir, ok := findUp(filepath.Join(".deps", "models")); ok {
		return filepath.Join(dir, name)
	}
	return filepath.Join(".deps", "models", name)
}

// findUp looks for the folder rel under the notebook's folder ($GONB_DIR)
// or the working directory, then under each of their parents in turn.
func findUp(rel string) (string, bool) {
	start := os.Getenv("GONB_DIR")
	if start == "" {
		start, _ = os.Getwd()
	}
	for dir := start; dir != ""; {
		candidate := filepath.Join(dir, rel)
		if info, err := os.Stat(candidate); err == nil && info.IsDir() {
			return candidate, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", false
}
