package main

import (
	"fmt"
	"io"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/xla"
)

// runDoctor implements `trustformers doctor`.
func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", "[--backend SPEC] [--install-xla]", stderr)
	backend := fs.String("backend", "", "backend spec to check (go, onnx:cpu, xla:cuda, ...); default: $TRUSTFORMERS_BACKEND, $GOMLX_BACKEND, else the best engine present")
	installXLA := fs.Bool("install-xla", false, "download go-xla's PJRT plugins (CPU, and CUDA where a GPU is present) into ~/.local/lib/go-xla first; the only networked action")
	if err := fs.Parse(args); err != nil {
		return &lab.FlagError{Err: err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if *installXLA {
		fmt.Fprintln(stderr, "downloading PJRT plugins (--install-xla)...")
		if err := xla.InstallPlugin(""); err != nil {
			return fmt.Errorf("--install-xla: %w", err)
		}
	}
	report := xla.DescribeSpec(*backend)
	fmt.Fprint(stdout, report.String())
	if report.Err != nil {
		return fmt.Errorf("backend unusable: %w", report.Err)
	}
	if !report.SIMD {
		fmt.Fprintf(stderr, "trustformers doctor: warning: SIMD kernels off: %s\n", xla.SIMDFix)
	}
	return nil
}
