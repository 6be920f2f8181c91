// Command shakespeare_char trains nanoGPT's character-level GPT on Tiny
// Shakespeare; see package experiment beside it for the settings and flags.
//
//	go run ./lab/shakespeare_char [-iters 2000] [-data FILE] [-backend SPEC] [-runs runs]
//
// `trustformers train shakespeare_char` runs the same code.
package main

import (
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/lab/shakespeare_char/shakespeare"
)

func main() { lab.Main(shakespeare.Command) }
