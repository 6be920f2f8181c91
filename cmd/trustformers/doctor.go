package main

import (
	"fmt"
	"io"

	"github.com/trustformers/trustformers-go/xla"
)

// runDoctor implements `trustformers doctor`.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("doctor", "[--backend SPEC] [--install-xla]", stderr)
	backend := fs.String("backend", "", "backend spec to check (go, onnx:cpu, xla:cuda, ...); default: $TRUSTFORMERS_BACKEND, $GOMLX_BACKEND, else the best engine present")
	installXLA := fs.Bool("install-xla", false, "download go-xla's PJRT plugins (CPU, and CUDA where a GPU is present) into ~/.local/lib/go-xla first; the only networked action")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *installXLA {
		fmt.Fprintln(stderr, "downloading PJRT plugins (--install-xla)...")
		if err := xla.InstallPlugin(""); err != nil {
			fmt.Fprintf(stderr, "trustformers doctor: --install-xla: %v\n", err)
			return 1
		}
	}
	report := xla.DescribeSpec(*backend)
	fmt.Fprint(stdout, report.String())
	if report.Err != nil {
		fmt.Fprintf(stderr, "trustformers doctor: backend unusable: %v\n", report.Err)
		return 1
	}
	if !report.SIMD {
		fmt.Fprintf(stderr, "trustformers doctor: warning: SIMD kernels off: %s\n", xla.SIMDFix)
	}
	return 0
}
