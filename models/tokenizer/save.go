package tokenizer

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/trustformers/trustformers-go/files"
)

// Save writes the tokenizer into dir as tokenizer.json and
// tokenizer_config.json, which Load and transformers' AutoTokenizer both
// read: the tokenizer.json document it was built from (a tokenizer.json
// file's, or the one LoadGGUF builds from a GGUF file's metadata), and a
// config naming the generic fast tokenizer class, the special tokens,
// whether BOS and EOS are added, model_max_length and the chat template
// (template, or the tokenizer's own when template is ""). A tokenizer
// loaded from another format (SentencePiece's tokenizer.model, vocab.txt)
// is an error naming it.
func (t *Tokenizer) Save(dir, template string) error {
	if t.source == nil {
		return fmt.Errorf("tokenizer: saving %s: a %s tokenizer has no tokenizer.json document to write", t.path, t.format)
	}
	if template == "" {
		template = t.chatTemplate
	}
	cfg := map[string]any{"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": false}
	for name, text := range t.specialText {
		cfg[name] = text
	}
	// What Encode adds around a text, as tokenizer_config.json's flags:
	// without a post-processor, Load and transformers' Llama-style
	// tokenizers read them.
	empty := t.Encode("")
	cfg["add_bos_token"] = t.Special.Has(t.Special.BOS) && slices.Contains(empty, t.Special.BOS)
	cfg["add_eos_token"] = t.Special.Has(t.Special.EOS) && len(empty) > 0 && empty[len(empty)-1] == t.Special.EOS
	if t.ModelMaxLength > 0 {
		cfg["model_max_length"] = t.ModelMaxLength
	}
	if template != "" {
		cfg["chat_template"] = template
	}
	cj, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("tokenizer: saving %s: %w", dir, err)
	}
	if err := files.WriteFile(filepath.Join(dir, "tokenizer.json"), t.source); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := files.WriteFile(filepath.Join(dir, "tokenizer_config.json"), append(cj, '\n')); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}
