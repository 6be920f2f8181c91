package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestEncodeTextFromFileAndStdin encodes text given through --text-file
// and through standard input ("-"), as the same text on the command line.
func TestEncodeTextFromFileAndStdin(t *testing.T) {
	gpt2 := filepath.Dir(assets.Require(t, assets.GPT2Encoder))
	file := filepath.Join(t.TempDir(), "text.txt")
	os.WriteFile(file, []byte("Hello, world!"), 0o644)
	defer func(r io.Reader) { stdin = r }(stdin)
	for _, args := range [][]string{{"--text-file", file}, {"-"}} {
		stdin = strings.NewReader("Hello, world!")
		var out, errOut bytes.Buffer
		code := run(append([]string{"encode", "--tokenizer", gpt2}, args...), &out, &errOut)
		if code != 0 || out.String() != "15496 11 995 0\n" {
			t.Errorf("encode %q: exit %d, stdout %q, stderr %q; want 15496 11 995 0", args, code, out.String(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"encode", "--tokenizer", gpt2, "--text-file", file, "more"}, &out, &errOut); code != 2 {
		t.Errorf("--text-file with TEXT too: exit %d, want 2 (usage)", code)
	}
}

// TestReadPrompt resolves --prompt TEXT, --prompt - and --prompt-file.
func TestReadPrompt(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "prompt.txt")
	os.WriteFile(file, []byte("from a file"), 0o644)
	defer func(r io.Reader) { stdin = r }(stdin)
	stdin = strings.NewReader("from stdin")
	for _, tc := range []struct {
		prompt, file, want, err string
	}{
		{"as given", "", "as given", ""},
		{"-", "", "from stdin", ""},
		{"", file, "from a file", ""},
		{"both", file, "", "not both"},
		{"", filepath.Join(dir, "missing.txt"), "", "missing.txt"},
		{"", dir, "", "a folder"},
	} {
		p := tc.prompt
		err := readPrompt(&p, tc.file)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("prompt %q, file %q: err %v, want one saying %q", tc.prompt, tc.file, err, tc.err)
			}
			continue
		}
		if err != nil || p != tc.want {
			t.Errorf("prompt %q, file %q: %q, %v; want %q", tc.prompt, tc.file, p, err, tc.want)
		}
	}
}
