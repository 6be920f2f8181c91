package generate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trustformers/trustformers-go/files"
)

// GenerationConfigFile is the file in a Hugging Face model folder that holds
// the model's own generation defaults.
const GenerationConfigFile = "generation_config.json"

// ReadGenerationConfig returns the Options that dir/generation_config.json
// asks for, read as Hugging Face's GenerationConfig reads it: without
// do_sample (or with it false) decoding is greedy or beam search; with it,
// temperature, top_k and top_p default to 1, 50 and 1, as there. It also
// reads max_new_tokens, min_new_tokens, min_p, typical_p,
// repetition_penalty, no_repeat_ngram_size (a NoRepeatNGram processor),
// suppress_tokens and single-token bad_words_ids (a BanTokens processor),
// eos_token_id (StopIDs), num_beams, length_penalty, early_stopping and
// num_return_sequences. max_length, which counts the prompt, is not read:
// set MaxNewTokens when the file has no max_new_tokens. A folder without
// the file gives the zero Options and no error; a field of the wrong type
// is an error naming the file and the field.
func ReadGenerationConfig(dir string) (Options, error) {
	path := filepath.Join(dir, GenerationConfigFile)
	data, err := files.ReadFile(path, files.ConfigLimit)
	if errors.Is(err, os.ErrNotExist) {
		return Options{}, nil
	}
	if err != nil {
		return Options{}, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Options{}, fmt.Errorf("%s: %w", path, err)
	}
	field := func(name string, dst any) error {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: field %s: %s is not a %T", path, name, v, dst)
		}
		return nil
	}
	var c struct {
		doSample                          bool
		temperature, topP, minP, typicalP float64
		repetition, lengthPenalty         float64
		topK, maxNew, minNew, noRepeat    int
		beams, returns                    int
		suppress                          []int32
		badWords                          [][]int32
		eos                               json.RawMessage
		early                             json.RawMessage
	}
	c.temperature, c.topK, c.topP = 1, 50, 1
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"do_sample", &c.doSample}, {"temperature", &c.temperature}, {"top_k", &c.topK}, {"top_p", &c.topP},
		{"min_p", &c.minP}, {"typical_p", &c.typicalP}, {"repetition_penalty", &c.repetition},
		{"max_new_tokens", &c.maxNew}, {"min_new_tokens", &c.minNew}, {"no_repeat_ngram_size", &c.noRepeat},
		{"num_beams", &c.beams}, {"num_return_sequences", &c.returns}, {"length_penalty", &c.lengthPenalty},
		{"suppress_tokens", &c.suppress}, {"bad_words_ids", &c.badWords},
		{"eos_token_id", &c.eos}, {"early_stopping", &c.early},
	} {
		if err := field(f.name, f.dst); err != nil {
			return Options{}, err
		}
	}
	o := Options{MaxNewTokens: c.maxNew, MinNewTokens: c.minNew, RepetitionPenalty: c.repetition,
		NumReturnSequences: c.returns, LengthPenalty: c.lengthPenalty}
	if c.beams > 1 {
		o.NumBeams = c.beams
	}
	if c.doSample {
		o.Temperature, o.TopK, o.TopP, o.MinP, o.TypicalP = c.temperature, c.topK, c.topP, c.minP, c.typicalP
	}
	if c.noRepeat > 0 {
		o.Processors = append(o.Processors, NoRepeatNGram(c.noRepeat))
	}
	banned := append([]int32(nil), c.suppress...)
	for _, words := range c.badWords {
		if len(words) != 1 {
			return Options{}, fmt.Errorf("%s: field bad_words_ids: %v is a sequence of %d tokens; only single tokens are banned", path, words, len(words))
		}
		banned = append(banned, words[0])
	}
	if len(banned) > 0 {
		o.Processors = append(o.Processors, BanTokens(banned...))
	}
	if len(c.eos) > 0 && string(c.eos) != "null" {
		var one int32
		if err := json.Unmarshal(c.eos, &one); err == nil {
			o.StopIDs = []int32{one}
		} else if err := json.Unmarshal(c.eos, &o.StopIDs); err != nil {
			return Options{}, fmt.Errorf("%s: field eos_token_id: %s is neither a token id nor a list of them", path, c.eos)
		}
	}
	switch string(c.early) {
	case "", "null", "false":
	case "true":
		o.EarlyStopping = EarlyStopDone
	case `"never"`:
		o.EarlyStopping = EarlyStopNever
	default:
		return Options{}, fmt.Errorf("%s: field early_stopping: %s (want true, false or \"never\")", path, c.early)
	}
	if err := check([][]int32{{0}}, o); err != nil {
		return Options{}, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}
