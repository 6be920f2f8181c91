package tokenizer

import (
	"fmt"
	"maps"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation: its role ("system", "user",
// "assistant", …) and its text.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatOptions changes how ApplyChatTemplate renders a conversation.
type ChatOptions struct {
	// AddGenerationPrompt ends the text with what opens the assistant's
	// turn, so that generation writes the answer.
	AddGenerationPrompt bool
	// Template renders instead of the tokenizer's own template.
	Template string
	// Vars are more template variables (tools, documents, a date, …).
	Vars map[string]any
}

// ChatTemplate returns the tokenizer's Jinja chat template: the folder's
// chat_template.jinja, tokenizer_config.json's chat_template, or a GGUF
// file's tokenizer.chat_template; "" when it has none.
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// ApplyChatTemplate renders messages with the chat template, as Hugging
// Face's apply_chat_template(messages, tokenize=False) does: the template
// sees messages, add_generation_prompt, the special tokens' text
// (bos_token, eos_token, …), raise_exception and strftime_now. Encode the
// text it returns with EncodeWith and NoSpecialTokens when the template
// writes the BOS itself.
func (t *Tokenizer) ApplyChatTemplate(messages []Message, opts ChatOptions) (string, error) {
	source, where := t.chatTemplate, t.chatFile
	if opts.Template != "" {
		source, where = opts.Template, "ChatOptions.Template"
	}
	if source == "" {
		return "", fmt.Errorf("tokenizer: %s has no chat template (none in tokenizer_config.json or chat_template.jinja): pass ChatOptions.Template", t.path)
	}
	tmpl, err := jinja.Compile(source)
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat template of %s: %w", where, err)
	}
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{}
	for name, text := range t.specialText {
		data[name] = text
	}
	maps.Copy(data, opts.Vars)
	data["messages"] = msgs
	data["add_generation_prompt"] = opts.AddGenerationPrompt
	text, err := tmpl.Render(data)
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat template of %s: %w", where, err)
	}
	return text, nil
}
