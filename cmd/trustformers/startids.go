package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

// tokenID is a token id and where it was found, for the line generate
// prints on stderr when it starts from ids rather than text.
type tokenID struct {
	id    int32
	where string
}

func (t tokenID) String() string { return fmt.Sprintf("id %d (%s)", t.id, t.where) }

// idPrompt is what generate starts from without a text prompt: --prompt-ids,
// --bos, or the model's own start id.
type idPrompt struct {
	// promptIDs is --prompt-ids, space-separated ids ("" when not given).
	promptIDs string
	// bos is --bos (bosSet: whether it was given).
	bos    int
	bosSet bool
}

// generateFromIDs generates from token ids: the --prompt-ids, or the start
// id that --bos or the model gives (config.json or generation_config.json's
// bos_token_id, the GGUF header's tokenizer.ggml.bos_token_id, llama2.c's
// convention for a .bin checkpoint), stopping at the model's stop ids. It
// says on stderr which ids it uses and where they come from; with no start
// id known it is an error asking for --bos or --prompt-ids. It prints the
// new ids, or, with a tokenizer and without --print-ids, the text.
func generateFromIDs(lm models.CausalLM, modelPath string, tok *tokenizer.Tokenizer, p idPrompt, opts generate.Options, idsOnly bool, stdout, stderr io.Writer) error {
	start, stops, err := modelStartStop(modelPath)
	if err != nil {
		return err
	}
	var prompt []int32
	var from string
	switch {
	case p.promptIDs != "":
		if prompt, err = parseIDs(p.promptIDs); err != nil {
			return err
		}
		from = fmt.Sprintf("the %d ids of --prompt-ids", len(prompt))
	case p.bosSet:
		prompt, from = []int32{int32(p.bos)}, tokenID{int32(p.bos), "--bos"}.String()
	case len(start) > 0:
		prompt, from = []int32{start[0].id}, start[0].String()
	default:
		return fmt.Errorf("%s: no tokenizer, and no start id in the model (bos_token_id in config.json or generation_config.json, tokenizer.ggml.bos_token_id in a GGUF header): pass --bos ID or --prompt-ids \"1 2 3\"", modelPath)
	}
	if tok != nil && tok.Special.Has(tok.Special.EOS) {
		stops = append(stops, tokenID{tok.Special.EOS, "the tokenizer's EOS"})
	}
	stopsSaid := "no stop id known: running to --max-new-tokens"
	if len(stops) > 0 {
		said := make([]string, len(stops))
		for i, s := range stops {
			said[i] = s.String()
			opts.StopIDs = append(opts.StopIDs, s.id)
		}
		stopsSaid = "stopping at " + strings.Join(said, ", ")
	}
	fmt.Fprintf(stderr, "trustformers generate: starting from %s; %s\n", from, stopsSaid)
	out, err := generate.Generate(lm, prompt, opts)
	if err != nil {
		return err
	}
	if tok != nil && !idsOnly {
		fmt.Fprintln(stdout, tok.Decode(append(prompt, out...), true))
		return nil
	}
	printIDs(stdout, out)
	return nil
}

// checkIDFlags checks --prompt-ids and --bos against each other and
// against --prompt, before the model is loaded.
func checkIDFlags(p idPrompt, prompt string) error {
	switch {
	case p.bosSet && p.bos < 0:
		return fmt.Errorf("--bos is %d; token ids are 0 or more", p.bos)
	case p.promptIDs != "" && (p.bosSet || prompt != ""):
		return errors.New("--prompt-ids is the whole prompt: give it without --prompt or --bos")
	case p.bosSet && prompt != "":
		return errors.New("--bos starts a generation without a prompt: give it without --prompt")
	case p.promptIDs != "":
		_, err := parseIDs(p.promptIDs)
		return err
	}
	return nil
}

// parseIDs parses --prompt-ids: token ids separated by spaces or commas.
func parseIDs(s string) ([]int32, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("--prompt-ids %q holds no ids", s)
	}
	ids := make([]int32, len(fields))
	for i, f := range fields {
		id, err := strconv.ParseInt(f, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("--prompt-ids: %q is not a token id (0 or more)", f)
		}
		ids[i] = int32(id)
	}
	return ids, nil
}

// modelStartStop returns the start id (at most one) and the stop ids the
// model at modelPath declares, each with where it was found: llama2.c's
// convention for a .bin file (start from 1, stop when 1 comes again, as
// its run.c does), the GGUF header's tokenizer.ggml.bos_token_id and
// eos_token_id, or a folder's generation_config.json, which overrides its
// config.json field by field, as in Transformers.
func modelStartStop(modelPath string) (start, stops []tokenID, err error) {
	path, err := models.Resolve(modelPath)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case strings.HasSuffix(path, ".bin"):
		const conv = "llama2.c's convention for .bin checkpoints"
		return []tokenID{{1, conv}}, []tokenID{{1, conv}}, nil
	case strings.HasSuffix(path, ".gguf"):
		return ggufStartStop(path)
	}
	for _, name := range []string{generate.GenerationConfigFile, modeling.ConfigFile} {
		file := filepath.Join(path, name)
		bos, eos, err := jsonStartStop(file)
		if err != nil {
			return nil, nil, err
		}
		if start == nil {
			start = bos
		}
		if stops == nil {
			stops = eos
		}
	}
	return start, stops, nil
}

// ggufStartStop reads tokenizer.ggml.bos_token_id and eos_token_id from
// the header of the GGUF file path.
func ggufStartStop(path string) (start, stops []tokenID, err error) {
	info, err := weights.ReadGGUFInfo(path)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range []struct {
		key string
		dst *[]tokenID
	}{{"tokenizer.ggml.bos_token_id", &start}, {"tokenizer.ggml.eos_token_id", &stops}} {
		if _, ok := info.Meta(k.key); !ok {
			continue
		}
		id, err := info.MetaInt(k.key)
		if err != nil {
			return nil, nil, err
		}
		if id < 0 || id > 1<<31-1 {
			return nil, nil, fmt.Errorf("%s: metadata key %q is %d, not a token id", path, k.key, id)
		}
		*k.dst = []tokenID{{int32(id), fmt.Sprintf("%s of %s", k.key, path)}}
	}
	return start, stops, nil
}

// jsonStartStop reads bos_token_id (an id) and eos_token_id (an id or a
// list of them) from the JSON file at path, when it exists; a field that is
// null or absent gives nil.
func jsonStartStop(path string) (start, stops []tokenID, err error) {
	data, err := files.ReadFile(path, files.ConfigLimit)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range []struct {
		field string
		dst   *[]tokenID
	}{{"bos_token_id", &start}, {"eos_token_id", &stops}} {
		v, ok := raw[f.field]
		if !ok || string(v) == "null" {
			continue
		}
		var ids []int64
		var one int64
		if json.Unmarshal(v, &one) == nil {
			ids = []int64{one}
		} else if err := json.Unmarshal(v, &ids); err != nil {
			return nil, nil, fmt.Errorf("%s: field %s: %s is neither a token id nor a list of them", path, f.field, v)
		}
		for _, id := range ids {
			if id < 0 || id > 1<<31-1 {
				return nil, nil, fmt.Errorf("%s: field %s holds %d, not a token id", path, f.field, id)
			}
			*f.dst = append(*f.dst, tokenID{int32(id), fmt.Sprintf("%s in %s", f.field, path)})
		}
	}
	return start, stops, nil
}
