// Command interop writes the files scripts/reference/interop.py checks with
// Hugging Face Transformers, PEFT, the gguf package and llama.cpp (see
// internal/interop):
//
//	go run ./scripts/interop OUT_DIR
package main

import (
	"fmt"
	"os"

	"github.com/trustformers/trustformers-go/internal/interop"
	"github.com/trustformers/trustformers-go/xla"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/interop OUT_DIR")
		os.Exit(2)
	}
	backend, err := xla.New("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer backend.Finalize()
	if err := interop.Write(os.Args[1], backend); err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
}
