package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestEncode runs `trustformers encode` in-process.
func TestEncode(t *testing.T) {
	gpt2 := filepath.Dir(assets.Require(t, assets.GPT2Encoder))
	llama := assets.Require(t, assets.Llama2Tokenizer)
	tests := []struct {
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{[]string{"--tokenizer", gpt2, "Hello,", "world!"}, 0, "15496 11 995 0\n", ""},
		{[]string{"--tokenizer", gpt2, "--tokens", "Hello, world!"}, 0, `"Hello" "," "Ġworld" "!"` + "\n", ""},
		{[]string{"--tokenizer", llama, "Hello world"}, 0, "1 15043 3186\n", ""},
		{[]string{"--tokenizer", llama, "--no-special", "Hello world"}, 0, "15043 3186\n", ""},
		{[]string{"--tokenizer", filepath.Join(t.TempDir(), "missing"), "x"}, 1, "", "missing"},
		{[]string{"--tokenizer", gpt2}, 2, "", "usage: trustformers encode"},
		{[]string{"Hello"}, 2, "", "usage: trustformers encode"},
		{[]string{"--bogus"}, 2, "", "flag provided but not defined"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		code := run(append([]string{"encode"}, tc.args...), &out, &errOut)
		if code != tc.code || out.String() != tc.stdout || !strings.Contains(errOut.String(), tc.inStderr) {
			t.Errorf("encode %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
				tc.args, code, out.String(), errOut.String(), tc.code, tc.stdout, tc.inStderr)
		}
	}
	var usage bytes.Buffer
	run([]string{"help"}, &usage, &usage)
	if !strings.Contains(usage.String(), "encode") {
		t.Errorf("usage does not list encode:\n%s", usage.String())
	}
}
