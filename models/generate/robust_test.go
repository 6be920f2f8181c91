package generate

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/llama"
)

// TestGenerationConfigOutOfRange reads generation_config.json fields that
// Hugging Face refuses (or that mean nothing): each is an error naming the
// file and the field.
func TestGenerationConfigOutOfRange(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`{"max_new_tokens": -5}`, "field max_new_tokens is -5; it must be at least 1"},
		{`{"max_new_tokens": 0}`, "field max_new_tokens is 0"},
		{`{"min_new_tokens": -1}`, "field min_new_tokens is -1"},
		{`{"do_sample": true, "temperature": -0.5}`, "field temperature is -0.5"},
		{`{"temperature": -0.5}`, "field temperature is -0.5"}, // wrong even where unused
		{`{"top_k": -3}`, "field top_k is -3"},
		{`{"top_p": 0}`, "field top_p is 0; it must be in (0, 1]"},
		{`{"top_p": 1.5}`, "field top_p is 1.5"},
		{`{"min_p": 2}`, "field min_p is 2"},
		{`{"typical_p": 0}`, "field typical_p is 0"},
		{`{"repetition_penalty": 0}`, "field repetition_penalty is 0; it must be positive"},
		{`{"repetition_penalty": -1.2}`, "field repetition_penalty is -1.2"},
		{`{"no_repeat_ngram_size": -2}`, "field no_repeat_ngram_size is -2"},
		{`{"num_beams": 0}`, "field num_beams is 0"},
		{`{"num_return_sequences": 0}`, "field num_return_sequences is 0"},
		{`{"num_return_sequences": 100000000}`, "field num_return_sequences is 100000000; it must be from 1 to 1048576"},
		{`{"num_beams": 100000000}`, "field num_beams is 100000000"},
		{`{"suppress_tokens": [3, -1]}`, "field suppress_tokens holds the token id -1"},
		{`{"bad_words_ids": [[-4]]}`, "field bad_words_ids holds the token id -4"},
		{`{"eos_token_id": -3}`, "field eos_token_id holds the token id -3"},
		{`{"temperature": 1e400}`, "field temperature"},
		{`{"temperature": NaN}`, GenerationConfigFile},
	} {
		dir := writeGenerationConfig(t, tc.text)
		_, err := ReadGenerationConfig(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, GenerationConfigFile)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want one naming the file and saying %q", tc.text, err, tc.want)
		}
	}
}

// TestRunRefusesOptions gives Run options out of range: errors before
// anything is allocated per row.
func TestRunRefusesOptions(t *testing.T) {
	m, err := llama.LoadLlama2C(assets.Require(t, assets.Stories260K), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{MaxNewTokens: -3}, "MaxNewTokens -3"},
		{Options{MaxNewTokens: 4, NumReturnSequences: 100000000, Temperature: 1}, "NumReturnSequences 100000000 make more than 1048576 rows"},
		{Options{MaxNewTokens: 4, NumBeams: 1 << 40}, "NumBeams 1099511627776 make more than"},
		{Options{MaxNewTokens: 0, NumReturnSequences: math.MaxInt}, "make more than"},
	} {
		if _, err := Run(m, [][]int32{{1}, {1, 2}}, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v; want %q", tc.opts, err, tc.want)
		}
	}
}

// TestNothingLeftToChoose bans the whole vocabulary, from code and from
// generation_config.json's suppress_tokens: greedy, sampled and beam
// search each stop with an error naming what banned it, rather than
// emitting a banned token (Hugging Face's greedy search emits token 0).
func TestNothingLeftToChoose(t *testing.T) {
	m, err := llama.LoadLlama2C(assets.Require(t, assets.Stories260K), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	all := make([]string, m.Config.VocabSize)
	for i := range all {
		all[i] = fmt.Sprint(i)
	}
	dir := writeGenerationConfig(t, `{"max_new_tokens": 5, "suppress_tokens": [`+strings.Join(all, ",")+`]}`)
	fromFile, err := ReadGenerationConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"greedy", fromFile, "every one is ruled out by suppress_tokens of " + filepath.Join(dir, GenerationConfigFile)},
		{"sampled", Options{MaxNewTokens: 5, Temperature: 1, Processors: []LogitsProcessor{BanTokens(int32Range(512)...)}}, "ruled out by the logits processors"},
		{"beams", Options{MaxNewTokens: 5, NumBeams: 2, Processors: fromFile.Processors}, "suppress_tokens of"},
		{"min new tokens, eos the only token left", Options{MaxNewTokens: 5, MinNewTokens: 3, StopIDs: []int32{2},
			Processors: []LogitsProcessor{BanTokens(int32Range(512)[3:]...), BanTokens(0, 1)}}, "MinNewTokens 3 (the stop ids [2])"},
	} {
		if out, err := Run(m, [][]int32{{1}}, tc.opts); err == nil || !strings.Contains(err.Error(), "step 0: no token is left to choose from the vocabulary of 512") ||
			!strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: out %v, err = %v; want one saying %q", tc.name, out, err, tc.want)
		}
	}
}

func int32Range(n int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids
}

// TestNaNLogits puts a NaN in a weight after loading (past the loader's
// check): generation stops with an error naming the step, greedy and
// sampled, rather than emitting token 0 (the argmax of NaNs) each step.
func TestNaNLogits(t *testing.T) {
	m, err := llama.LoadLlama2C(assets.Require(t, assets.Stories260K), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	norm := make([]float32, m.Config.HiddenSize)
	for i := range norm {
		norm[i] = 1
	}
	norm[3] = float32(math.NaN())
	if err := m.Params().Set("model.norm.weight", tensors.FromFlatDataAndDimensions(norm, len(norm))); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{MaxNewTokens: 4}, {MaxNewTokens: 4, Temperature: 1}, {MaxNewTokens: 4, NumBeams: 2}} {
		if out, err := Run(m, [][]int32{{1}}, opts); err == nil || !strings.Contains(err.Error(), "the model produced NaN logits at step 0") {
			t.Errorf("%+v: out %v, err = %v; want the NaN logits named", opts, out, err)
		}
	}
}
