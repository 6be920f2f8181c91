package tokenizer

import (
	"fmt"
	"maps"

	"github.com/trustformers/trustformers-go/models/tokenizer/jinja"
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
	// Vars are more template variables (tools, documents, a date, …):
	// Go values, maps (keys in sorted order) or json.RawMessage (objects
	// keep their key order, as tool schemas need).
	Vars map[string]any
}

// ChatTemplate returns the tokenizer's Jinja chat template: the folder's
// chat_template.jinja, tokenizer_config.json's chat_template, or a GGUF
// file's tokenizer.chat_template; "" when it has none.
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// ApplyChatTemplate renders messages with the chat template, as Hugging
// Face's apply_chat_template(messages, tokenize=False) does: the template
// sees messages, add_generation_prompt, tools and documents (None unless
// Vars sets them), the special tokens' text (bos_token, eos_token, …),
// raise_exception and strftime_now. Encode the text it returns with
// EncodeWith and NoSpecialTokens when the template writes the BOS itself.
//
// Templates are rendered by package jinja, within its DefaultLimits: a
// template that recurses, loops or grows without end is an error naming
// the file it came from (or ChatOptions.Template) and the bound it passed.
func (t *Tokenizer) ApplyChatTemplate(messages []Message, opts ChatOptions) (string, error) {
	r, err := t.RenderChat(messages, opts)
	if err != nil {
		return "", err
	}
	return r.Text, nil
}

// RenderedChat is a conversation rendered by a chat template.
type RenderedChat struct {
	// Text is what ApplyChatTemplate returns.
	Text string
	// Generation holds the byte ranges of Text that the template's
	// {% generation %} blocks rendered (transformers' assistant masks, for
	// training on the assistant's turns only), in order; none when the
	// template has no such block.
	Generation []jinja.Span
}

// RenderChat renders messages as ApplyChatTemplate does, and also returns
// where the template's {% generation %} blocks are.
func (t *Tokenizer) RenderChat(messages []Message, opts ChatOptions) (*RenderedChat, error) {
	source, where := t.chatTemplate, t.chatFile
	if opts.Template != "" {
		source, where = opts.Template, "ChatOptions.Template"
	}
	if source == "" {
		return nil, fmt.Errorf("tokenizer: %s has no chat template (none in tokenizer_config.json or chat_template.jinja): pass ChatOptions.Template", t.path)
	}
	tmpl, err := jinja.Compile(where, source)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{"tools": nil, "documents": nil}
	for name, text := range t.specialText {
		data[name] = text
	}
	maps.Copy(data, opts.Vars)
	data["messages"] = msgs
	data["add_generation_prompt"] = opts.AddGenerationPrompt
	res, err := tmpl.Render(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return &RenderedChat{Text: res.Text, Generation: res.Generation}, nil
}
