// Command lora_finetune fine-tunes stories260K with LoRA adapters; see
// package experiment beside it for the data, the settings and the flags.
//
//	go run ./lab/lora_finetune [-iters 150] [-ban 16] [-rank 4] [-backend SPEC] [-runs runs]
//
// `trustformers train lora_finetune` runs the same code.
package main

import (
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/lab/lora_finetune/lorafinetune"
)

func main() { lab.Main(lorafinetune.Command) }
