package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestChatTemplateMatchesTransformers renders the conversations of
// testdata/chat_templates.golden.json (written by
// scripts/reference/chat_templates.py with apply_chat_template) with
// SmolLM2's own template, read from its GGUF file, and with the templates
// written there; the text must be the same byte for byte, and a template
// that raises must fail here too.
func TestChatTemplateMatchesTransformers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "chat_templates.golden.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with scripts/reference/chat_templates.py)", err)
	}
	var g struct {
		Templates     map[string]string
		SpecialTokens map[string]string `json:"special_tokens"`
		Cases         []struct {
			Template            string
			Messages            []Message
			AddGenerationPrompt bool `json:"add_generation_prompt"`
			Text                *string
			Error               *string
			IDs                 []int32
		}
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(assets.RequireModel(t, assets.SmolLM2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tok.ChatTemplate(), "<|im_start|>") {
		t.Fatalf("SmolLM2's chat template was not read from its GGUF file: %q", tok.ChatTemplate())
	}
	for name, text := range g.SpecialTokens {
		if got := tok.specialText[name]; got != text {
			t.Errorf("%s is %q, transformers %q", name, got, text)
		}
	}
	checked := 0
	for i, c := range g.Cases {
		opts := ChatOptions{AddGenerationPrompt: c.AddGenerationPrompt}
		if c.Template != "smollm2" {
			opts.Template = g.Templates[c.Template]
		}
		got, err := tok.ApplyChatTemplate(c.Messages, opts)
		switch {
		case c.Error != nil:
			if err == nil || !strings.Contains(err.Error(), *c.Error) {
				t.Errorf("case %d (%s): err = %v, want one saying %q", i, c.Template, err, *c.Error)
			}
		case err != nil:
			t.Errorf("case %d (%s): %v", i, c.Template, err)
		case got != *c.Text:
			t.Errorf("case %d (%s, generation prompt %v):\n got %q\nwant %q", i, c.Template, c.AddGenerationPrompt, got, *c.Text)
		default:
			checked++
		}
		if c.IDs != nil && err == nil {
			if ids := tok.EncodeWith(got, EncodeOptions{NoSpecialTokens: true}); !slices.Equal(ids, c.IDs) {
				t.Errorf("case %d: the rendered text encodes to %v, apply_chat_template(tokenize=True) to %v", i, ids, c.IDs)
			}
		}
	}
	if checked < len(g.Cases)/2 {
		t.Fatalf("only %d of %d cases rendered as transformers does", checked, len(g.Cases))
	}
}

func TestChatTemplateErrors(t *testing.T) {
	tok := load(t, filepath.Dir(assets.Require(t, assets.GPT2Encoder)))
	msgs := []Message{{Role: "user", Content: "hi"}}
	if _, err := tok.ApplyChatTemplate(msgs, ChatOptions{}); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("no template: err = %v", err)
	}
	if _, err := tok.ApplyChatTemplate(msgs, ChatOptions{Template: "{% for m in messages %}"}); err == nil || !strings.Contains(err.Error(), "ChatOptions.Template") {
		t.Errorf("a template that does not parse: err = %v, want one naming where it came from", err)
	}
	got, err := tok.ApplyChatTemplate(msgs, ChatOptions{Template: "{{ messages[0].content }}-{{ today }}-{{ eos_token }}", Vars: map[string]any{"today": "2 Dec"}})
	if err != nil || got != "hi-2 Dec-<|endoftext|>" {
		t.Errorf("Vars and the special tokens' text: %q, %v", got, err)
	}
}

// gpt2WithConfig writes GPT-2's tokenizer files into a folder with a
// tokenizer_config.json holding config, and returns the folder.
func gpt2WithConfig(t *testing.T, config map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Dir(assets.Require(t, assets.GPT2Encoder))
	for _, name := range []string{"encoder.json", "vocab.bpe"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestChatTemplateHostile renders templates from a downloaded folder that
// would run away: each is an error naming the file and the bound, and a
// template error where jinja2 raises one (rather than empty text or 0.0).
func TestChatTemplateHostile(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "hi"}}
	for _, c := range []struct{ template, want string }{
		{"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError"},
		{"{% for i in range(1000000000) %}x{% endfor %}", "MAX_RANGE"},
		{"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "Limits.Steps"},
		{"{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "Limits.Value"},
		{"{{ 1 / 0 }}", "ZeroDivisionError"},
		{"{{ messages[100].content }}", "UndefinedError"},
		{"{{ messages[0].nope.deeper }}", "UndefinedError"},
	} {
		dir := gpt2WithConfig(t, map[string]any{"chat_template": c.template})
		tok := load(t, dir)
		_, err := tok.ApplyChatTemplate(msgs, ChatOptions{})
		file := filepath.Join(dir, "tokenizer_config.json")
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming %s and saying %s", c.template, err, file, c.want)
		}
	}
}

// TestRenderChatGeneration returns where the {% generation %} blocks are,
// and gives templates tools and documents as transformers does (None).
func TestRenderChatGeneration(t *testing.T) {
	tok := load(t, gpt2WithConfig(t, map[string]any{"chat_template": "{% for m in messages %}<{{ m.role }}>" +
		"{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{{ eos_token }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}" +
		"{% endfor %}{{ tools is none and documents is none }}"}))
	r, err := tok.RenderChat([]Message{{"user", "Hi"}, {"assistant", "Hé!"}, {"user", "Bye"}, {"assistant", "Ciao"}}, ChatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "<user>Hi<assistant>Hé!<|endoftext|><user>Bye<assistant>Ciao<|endoftext|>True"
	if r.Text != want {
		t.Fatalf("got %q, want %q", r.Text, want)
	}
	var spans []string
	for _, s := range r.Generation {
		spans = append(spans, r.Text[s.Start:s.End])
	}
	if !slices.Equal(spans, []string{"Hé!<|endoftext|>", "Ciao<|endoftext|>"}) {
		t.Errorf("generation blocks %v cover %q", r.Generation, spans)
	}
}
