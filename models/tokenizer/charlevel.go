package tokenizer

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/files"
)

// charLevelSplit is the pre-tokenizer pattern that makes every character a
// piece of its own. In Oniguruma (Hugging Face) as in Go, "." is any one
// character but a newline, and the flags that change that are spelled
// differently in the two, so the newline is named on its own.
const charLevelSplit = `.|\n`

// CharLevelJSON returns the tokenizer.json of a character-level
// vocabulary: chars[i] is token i. It is a BPE model with no merges behind
// a pre-tokenizer that splits every character (so each character is one
// token), no normalizer (so text is read as is, newlines and spaces
// included), and a Fuse decoder (so decoding concatenates the characters,
// where a model with no decoder would put spaces between tokens). It has no
// unknown token, since nanoGPT's vocabularies have no slot for one: a
// character outside the vocabulary encodes to nothing, as Hugging Face's BPE
// without unk_token does.
func CharLevelJSON(chars []rune) ([]byte, error) {
	vocab := make(map[string]int, len(chars))
	for i, r := range chars {
		s := string(r)
		if _, dup := vocab[s]; dup {
			return nil, fmt.Errorf("tokenizer: character vocabulary: %q appears twice (ids %d and %d)", s, vocab[s], i)
		}
		vocab[s] = i
	}
	doc := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   []any{},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "Split", "pattern": map[string]any{"Regex": charLevelSplit}, "behavior": "Isolated", "invert": false},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "Fuse"},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": []any{}},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// SaveCharLevel writes a character-level vocabulary (chars[i] is token i)
// into dir as tokenizer.json (see CharLevelJSON) and tokenizer_config.json,
// which Load and transformers' AutoTokenizer both read. The config names
// the generic fast tokenizer class, declares no special tokens (a
// character model's start is an ordinary character, and a special one
// would vanish from decoded text), turns off transformers' clean-up of
// spaces before punctuation, which would change the text, and gives
// maxLength (the model's context; 0 leaves it out) as model_max_length.
func SaveCharLevel(dir string, chars []rune, maxLength int) error {
	tj, err := CharLevelJSON(chars)
	if err != nil {
		return err
	}
	cfg := map[string]any{"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": false}
	if maxLength > 0 {
		cfg["model_max_length"] = maxLength
	}
	cj, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := files.WriteFile(filepath.Join(dir, "tokenizer.json"), append(tj, '\n')); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := files.WriteFile(filepath.Join(dir, "tokenizer_config.json"), append(cj, '\n')); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}
