package generate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeGenerationConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, GenerationConfigFile), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadGenerationConfig(t *testing.T) {
	// Sampling with Hugging Face's defaults for what the file leaves out
	// (top_k 50, top_p 1), two stop ids, and the processors it names.
	o, err := ReadGenerationConfig(writeGenerationConfig(t, `{"do_sample": true, "temperature": 0.6, "top_p": 0.9,
		"eos_token_id": [2, 7], "max_new_tokens": 40, "no_repeat_ngram_size": 3, "suppress_tokens": [5],
		"bad_words_ids": [[9]], "repetition_penalty": 1.1, "min_p": 0.05, "transformers_version": "5.23.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Temperature != 0.6 || o.TopK != 50 || o.TopP != 0.9 || o.MinP != 0.05 || o.MaxNewTokens != 40 ||
		o.RepetitionPenalty != 1.1 || !slices.Equal(o.StopIDs, []int32{2, 7}) || len(o.Processors) != 2 {
		t.Fatalf("sampling config read as %+v", o)
	}
	scores := make([]float32, 10)
	for _, p := range o.Processors {
		p.Process([]int32{1, 2, 3, 1, 2}, scores)
	}
	for id, s := range scores {
		if banned := s < -1e30; banned != (id == 3 || id == 5 || id == 9) {
			t.Errorf("token %d banned=%v (want 3 by the 3-gram rule, 5 and 9 suppressed)", id, banned)
		}
	}

	// Without do_sample the sampling fields are ignored, as in Hugging Face.
	o, err = ReadGenerationConfig(writeGenerationConfig(t, `{"temperature": 0.6, "top_k": 3, "num_beams": 4,
		"length_penalty": 0.8, "early_stopping": "never", "eos_token_id": 2, "num_return_sequences": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Temperature != 0 || o.TopK != 0 || o.NumBeams != 4 || o.LengthPenalty != 0.8 || o.EarlyStopping != EarlyStopNever ||
		!slices.Equal(o.StopIDs, []int32{2}) || o.NumReturnSequences != 2 {
		t.Fatalf("beam config read as %+v", o)
	}

	if o, err := ReadGenerationConfig(t.TempDir()); err != nil || o.MaxNewTokens != 0 || o.Processors != nil {
		t.Fatalf("no file: %+v, %v", o, err)
	}
	for _, bad := range []struct{ text, field string }{
		{`{"top_k": "many"}`, "top_k"},
		{`{"eos_token_id": "eos"}`, "eos_token_id"},
		{`{"early_stopping": "sometimes"}`, "early_stopping"},
		{`{"bad_words_ids": [[4, 5]]}`, "bad_words_ids"},
		{`{"do_sample": true, "top_p": 3}`, "top_p"},
		{`{"do_sample": true`, GenerationConfigFile},
	} {
		_, err := ReadGenerationConfig(writeGenerationConfig(t, bad.text))
		if err == nil || !strings.Contains(err.Error(), bad.field) || !strings.Contains(err.Error(), GenerationConfigFile) {
			t.Errorf("%s: err = %v, want one naming the file and %q", bad.text, err, bad.field)
		}
	}
}
