package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// TestTrainedRunModelSpeaks trains shakespeare_char for two iterations and
// generates from its run folder's model/ with a text prompt: the folder
// carries the character vocabulary as its tokenizer, and config.json's
// start id is the newline the tokenizer encodes. A model folder from before
// (no tokenizer) still generates ids.
func TestTrainedRunModelSpeaks(t *testing.T) {
	data := assets.Require(t, assets.TinyShakespeare)
	runs := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run([]string{"train", "shakespeare_char", "-iters", "2", "-eval-interval", "2", "-eval-iters", "1",
		"-sample-tokens", "4", "-backend", "go", "-data", data, "-runs", runs}, &out, &errOut); code != 0 {
		t.Fatalf("train exited %d: %s", code, errOut.String())
	}
	dirs, _ := filepath.Glob(filepath.Join(runs, "shakespeare_char", "*", "model"))
	if len(dirs) != 1 {
		t.Fatalf("model folders %v, want 1", dirs)
	}
	model := dirs[0]

	out.Reset()
	errOut.Reset()
	const newTokens = 20
	args := []string{"generate", "--backend", "go", "--model", model, "--prompt", "ROMEO:", "--temperature", "0", "--max-new-tokens", "20"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("generate exited %d: %s", code, errOut.String())
	}
	text := strings.TrimSuffix(out.String(), "\n")
	if !strings.HasPrefix(text, "ROMEO:") || utf8.RuneCountInString(text) != len("ROMEO:")+newTokens {
		t.Errorf("generate printed %q, want ROMEO: and %d characters", out.String(), newTokens)
	}

	tok, err := tokenizer.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(model, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	bos, eos := cfg["bos_token_id"], cfg["eos_token_id"]
	_, hasEOS := cfg["eos_token_id"]
	if nl := tok.Encode("\n"); len(nl) != 1 || bos != float64(nl[0]) || !hasEOS || eos != nil {
		t.Errorf("config.json bos_token_id %v, eos_token_id %v; want the newline's id %v and null", bos, eos, nl)
	}

	// A run folder written before the tokenizer was saved. Which ids it
	// prints depends on where generate starts without a tokenizer, so
	// only its success is checked.
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if err := os.Remove(filepath.Join(model, f)); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"generate", "--backend", "go", "--model", model, "--temperature", "0", "--max-new-tokens", "5", "--print-ids"}, &out, &errOut); code != 0 {
		t.Errorf("generate on a model without tokenizer: exit %d, printed %q, stderr %q", code, out.String(), errOut.String())
	}
}
