package main

import (
	"fmt"
	"io"
	"os"
)

// textLimit bounds a prompt or text read from a file or standard input:
// far more than any model's context holds, and an end to /dev/zero.
const textLimit = 64 << 20

// stdin is what "-" reads (tests replace it).
var stdin io.Reader = os.Stdin

// readText returns the text at path, or standard input's for "-": at most
// textLimit bytes, with an error naming the flag and the path. A named
// pipe is read too, so that a shell's <(command) works.
func readText(flag, path string) (string, error) {
	r := stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil && info.IsDir() {
			return "", fmt.Errorf("--%s %s: a folder, not a text file", flag, path)
		}
		r, name = f, path
	}
	data, err := io.ReadAll(io.LimitReader(r, textLimit+1))
	if err != nil {
		return "", fmt.Errorf("--%s: reading %s: %w", flag, name, err)
	}
	if len(data) > textLimit {
		return "", fmt.Errorf("--%s: %s holds more than %d MB of text", flag, name, textLimit>>20)
	}
	return string(data), nil
}

// readPrompt resolves generate's prompt: --prompt TEXT as given, --prompt -
// from standard input, or --prompt-file PATH (the way to pass a long
// prompt: a command line is limited, and shows in ps).
func readPrompt(prompt *string, file string) error {
	switch {
	case file != "" && *prompt != "":
		return usageErrorf("give --prompt or --prompt-file, not both")
	case file != "":
		text, err := readText("prompt-file", file)
		*prompt = text
		return err
	case *prompt == "-":
		text, err := readText("prompt", "-")
		*prompt = text
		return err
	}
	return nil
}
