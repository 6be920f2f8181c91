// Command sft fine-tunes SmolLM2-135M-Instruct with LoRA on a task graded by
// exact match; see package sft beside it for the task, the settings and the
// flags.
//
//	go run ./lab/sft [-iters 60] [-train 200] [-held-out 50] [-backend SPEC] [-runs runs]
//
// `trustformers train sft` runs the same code.
package main

import (
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/lab/sft/sft"
)

func main() { lab.Main(sft.Command) }
