package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/lab/lora_finetune/lorafinetune"
	"github.com/trustformers/trustformers-go/lab/mixed_precision/mixedprecision"
	"github.com/trustformers/trustformers-go/lab/sft/sft"
	"github.com/trustformers/trustformers-go/lab/shakespeare_char/shakespeare"
)

// experiments are the lab's experiment scripts that `trustformers train`
// runs; each is also `go run ./lab/NAME`.
var experiments = []lab.Experiment{shakespeare.Command, lorafinetune.Command, mixedprecision.Command, sft.Command}

func init() {
	commands["train"] = command{"run an experiment of lab/ (as `go run ./lab/NAME` does)", runTrain}
}

// runTrain implements `trustformers train NAME [flags]`: it runs the
// experiment NAME with its own flags (`trustformers train NAME -h` lists
// them), exactly as `go run ./lab/NAME [flags]` does.
func runTrain(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		trainUsage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	var names []string
	for _, e := range experiments {
		if e.Name == args[0] {
			return named("train "+e.Name, e.Run(args[1:], stdout, stderr))
		}
		names = append(names, e.Name)
	}
	return usageErrorf("unknown experiment %q (have %s)", args[0], strings.Join(names, ", "))
}

func trainUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: trustformers train NAME [flags]\n\nexperiments:")
	for _, e := range experiments {
		fmt.Fprintf(w, "  %-18s %s\n", e.Name, e.Summary)
	}
	fmt.Fprintln(w, "\nRun `trustformers train NAME -h` for an experiment's flags.")
}
