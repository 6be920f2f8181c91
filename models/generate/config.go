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
// num_return_sequences, each within the range Hugging Face accepts (see
// checkGenerationFields: a value outside it is an error naming the field).
// max_length, which counts the prompt, is not read:
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
	c, err := decodeGenerationFields(path, data)
	if err != nil {
		return Options{}, err
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
		banned = append(banned, words[0])
	}
	if len(banned) > 0 {
		fields := "suppress_tokens"
		switch {
		case len(c.badWords) > 0 && len(c.suppress) > 0:
			fields = "suppress_tokens and bad_words_ids"
		case len(c.badWords) > 0:
			fields = "bad_words_ids"
		}
		o.Processors = append(o.Processors, namedProcessor{BanTokens(banned...), fields + " of " + path})
	}
	o.StopIDs = c.eos
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

// generationFields are the fields of a generation_config.json that
// ReadGenerationConfig reads, with Hugging Face's defaults for those
// absent (present says which were given).
type generationFields struct {
	present                           map[string]bool
	doSample                          bool
	temperature, topP, minP, typicalP float64
	repetition, lengthPenalty         float64
	topK, maxNew, minNew, noRepeat    int
	beams, returns                    int
	suppress, eos                     []int32
	badWords                          [][]int32
	early                             json.RawMessage
}

// decodeGenerationFields decodes the fields of the generation_config.json
// at path and checks them.
func decodeGenerationFields(path string, data []byte) (*generationFields, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &generationFields{present: map[string]bool{}, temperature: 1, topK: 50, topP: 1}
	var eos json.RawMessage
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"do_sample", &c.doSample}, {"temperature", &c.temperature}, {"top_k", &c.topK}, {"top_p", &c.topP},
		{"min_p", &c.minP}, {"typical_p", &c.typicalP}, {"repetition_penalty", &c.repetition},
		{"max_new_tokens", &c.maxNew}, {"min_new_tokens", &c.minNew}, {"no_repeat_ngram_size", &c.noRepeat},
		{"num_beams", &c.beams}, {"num_return_sequences", &c.returns}, {"length_penalty", &c.lengthPenalty},
		{"suppress_tokens", &c.suppress}, {"bad_words_ids", &c.badWords},
		{"eos_token_id", &eos}, {"early_stopping", &c.early},
	} {
		v, ok := raw[f.name]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return nil, fmt.Errorf("%s: field %s: %s is not a %T", path, f.name, v, f.dst)
		}
		c.present[f.name] = true
	}
	if len(eos) > 0 && string(eos) != "null" {
		var one int32
		if err := json.Unmarshal(eos, &one); err == nil {
			c.eos = []int32{one}
		} else if err := json.Unmarshal(eos, &c.eos); err != nil {
			return nil, fmt.Errorf("%s: field eos_token_id: %s is neither a token id nor a list of them", path, eos)
		}
	}
	if err := checkGenerationFields(path, c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkGenerationFields returns an error naming the first field given out
// of its range, as Hugging Face's GenerationConfig and logits processors
// refuse them (max_new_tokens at least 1, top_p and typical_p in (0, 1],
// a positive repetition_penalty, ...), or a token id that is negative.
func checkGenerationFields(path string, c *generationFields) error {
	ranges := []struct {
		name  string
		value any
		ok    bool
		want  string
	}{
		{"temperature", c.temperature, c.temperature >= 0, "a non-negative number"},
		{"top_k", c.topK, c.topK >= 0, "0 (no limit) or more"},
		{"top_p", c.topP, c.topP > 0 && c.topP <= 1, "in (0, 1]"},
		{"min_p", c.minP, c.minP >= 0 && c.minP <= 1, "in [0, 1]"},
		{"typical_p", c.typicalP, c.typicalP > 0 && c.typicalP <= 1, "in (0, 1]"},
		{"repetition_penalty", c.repetition, c.repetition > 0, "positive (1: no penalty)"},
		{"max_new_tokens", c.maxNew, c.maxNew >= 1, "at least 1"},
		{"min_new_tokens", c.minNew, c.minNew >= 0, "0 or more"},
		{"no_repeat_ngram_size", c.noRepeat, c.noRepeat >= 0, "0 (off) or more"},
		{"num_beams", c.beams, c.beams >= 1 && c.beams <= MaxRows, fmt.Sprintf("from 1 to %d", MaxRows)},
		{"num_return_sequences", c.returns, c.returns >= 1 && c.returns <= MaxRows, fmt.Sprintf("from 1 to %d", MaxRows)},
	}
	for _, r := range ranges {
		if c.present[r.name] && !r.ok {
			return fmt.Errorf("%s: field %s is %v; it must be %s", path, r.name, r.value, r.want)
		}
	}
	ids := map[string][]int32{"suppress_tokens": c.suppress, "eos_token_id": c.eos}
	for _, words := range c.badWords {
		if len(words) != 1 {
			return fmt.Errorf("%s: field bad_words_ids: %v is a sequence of %d tokens; only single tokens are banned", path, words, len(words))
		}
		ids["bad_words_ids"] = append(ids["bad_words_ids"], words[0])
	}
	for _, name := range []string{"suppress_tokens", "bad_words_ids", "eos_token_id"} {
		for _, id := range ids[name] {
			if id < 0 {
				return fmt.Errorf("%s: field %s holds the token id %d; ids are 0 or more", path, name, id)
			}
		}
	}
	return nil
}
