// Command mixed_precision measures the step time and loss of the
// shakespeare_char model with float32 against bfloat16 or float16 matrix
// products; see package experiment beside it for the method and flags.
//
//	go run ./lab/mixed_precision [-iters 200] [-precisions float32,bfloat16] [-backend SPEC]
//
// `trustformers train mixed_precision` runs the same code.
package main

import (
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/lab/mixed_precision/mixedprecision"
)

func main() { lab.Main(mixedprecision.Command) }
