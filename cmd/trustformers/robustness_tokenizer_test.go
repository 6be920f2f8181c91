package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

func init() {
	robustGroups = append(robustGroups, tokenizerCases)
	robustTimeLimits[manyAddedTokens] = 2 * time.Minute
}

// manyAddedTokens names the case whose process must end in time.
const manyAddedTokens = "60,000 added tokens and 1 MB of text"

// hostileChatTemplates would run away, or render silently where jinja2 raises:
// each must end with an error naming where the template came from and
// what it passed or raised.
var hostileChatTemplates = []struct {
	name, template string
	want           []string
}{
	{"a macro that calls itself", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", []string{"RecursionError", "Limits.Depth"}},
	{"range(1000000000)", "{% for i in range(1000000000) %}x{% endfor %}", []string{"OverflowError", "MAX_RANGE"}},
	{"a string doubled in a loop", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", []string{"LimitError", "Limits.Value"}},
	{"a list doubled in a loop", "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l }}", []string{"LimitError", "Limits.Value"}},
	{"a huge repeat", "{{ 'x' * 100000000000 }}", []string{"LimitError", "Limits.Value"}},
	{"10^10 loop steps", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", []string{"LimitError", "Limits.Steps"}},
	{"10 GB of output", "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", []string{"LimitError", "Limits.Output"}},
	{"division by zero", "{{ 1 / 0 }}", []string{"ZeroDivisionError"}},
	{"a message past the end", "{{ messages[100].content }}", []string{"UndefinedError"}},
	{"an attribute of an undefined attribute", "{{ messages[0].nope.deeper }}", []string{"UndefinedError"}},
}

// tokenizerCases are hostile chat templates (in tokenizer_config.json,
// chat_template.jinja and a GGUF's tokenizer.chat_template, rendered by
// generate --chat) and tokenizer files with fields that were accepted
// silently or read without bounds.
func tokenizerCases(t *testing.T, env robustEnv) []robustCase {
	gpt2 := filepath.Dir(assets.Require(t, assets.GPT2Encoder))
	chat := func(tokPath string) []string {
		return []string{"generate", "--model", env.stories, "--tokenizer", tokPath, "--chat", "--prompt", "hi", "--max-new-tokens", "4"}
	}
	var cases []robustCase
	for _, h := range hostileChatTemplates {
		cases = append(cases,
			robustCase{"chat template in tokenizer_config.json: " + h.name, func(t *testing.T, dir string) []string {
				tokWriteJSON(t, filepath.Join(tokGPT2Folder(t, gpt2, dir), "tokenizer_config.json"), map[string]any{"chat_template": h.template})
				return chat(filepath.Join(dir, "tok"))
			}, append([]string{"tokenizer_config.json"}, h.want...)},
			robustCase{"chat template in a GGUF: " + h.name, func(t *testing.T, dir string) []string {
				return chat(tokGGUF(t, gpt2, dir, h.template))
			}, append([]string{"tok.gguf"}, h.want...)})
	}
	cases = append(cases,
		robustCase{"chat_template.jinja: a macro that calls itself", func(t *testing.T, dir string) []string {
			tok := tokGPT2Folder(t, gpt2, dir)
			tokWriteFile(t, filepath.Join(tok, "chat_template.jinja"), "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
			return chat(tok)
		}, []string{"chat_template.jinja", "RecursionError"}},
		robustCase{"chat_template.jinja is a FIFO", func(t *testing.T, dir string) []string {
			tok := tokGPT2Folder(t, gpt2, dir)
			tokMkfifo(t, filepath.Join(tok, "chat_template.jinja"))
			return chat(tok)
		}, []string{"chat_template.jinja", "not a regular file"}},
		robustCase{"tokenizer.json is /dev/zero", func(t *testing.T, dir string) []string {
			tokSymlink(t, "/dev/zero", filepath.Join(dir, "tokenizer.json"))
			return []string{"encode", "--tokenizer", dir, "hi"}
		}, []string{"tokenizer.json", "not a regular file"}},
		robustCase{"tokenizer.json is a FIFO", func(t *testing.T, dir string) []string {
			tokMkfifo(t, filepath.Join(dir, "tokenizer.json"))
			return []string{"encode", "--tokenizer", dir, "hi"}
		}, []string{"tokenizer.json", "not a regular file"}},
		robustCase{"vocab.json is /dev/zero", func(t *testing.T, dir string) []string {
			tokSymlink(t, "/dev/zero", filepath.Join(dir, "vocab.json"))
			copyFile(t, filepath.Join(gpt2, "vocab.bpe"), filepath.Join(dir, "merges.txt"))
			return []string{"encode", "--tokenizer", dir, "hi"}
		}, []string{"vocab.json", "not a regular file"}},
		robustCase{"merges.txt is a FIFO", func(t *testing.T, dir string) []string {
			copyFile(t, filepath.Join(gpt2, "encoder.json"), filepath.Join(dir, "vocab.json"))
			tokMkfifo(t, filepath.Join(dir, "merges.txt"))
			return []string{"encode", "--tokenizer", dir, "hi"}
		}, []string{"merges.txt", "not a regular file"}},
		robustCase{"tokenizer.model is /dev/zero", func(t *testing.T, dir string) []string {
			tokSymlink(t, "/dev/zero", filepath.Join(dir, "tokenizer.model"))
			return []string{"encode", "--tokenizer", dir, "hi"}
		}, []string{"tokenizer.model", "not a regular file"}},
		robustCase{"tokenizer_config.json is /dev/zero", func(t *testing.T, dir string) []string {
			tok := tokGPT2Folder(t, gpt2, dir)
			tokSymlink(t, "/dev/zero", filepath.Join(tok, "tokenizer_config.json"))
			return []string{"encode", "--tokenizer", tok, "hi"}
		}, []string{"tokenizer_config.json", "not a regular file"}},
		robustCase{"Split with a look-ahead, for go-huggingface", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "pre_tokenizer", map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Whitespace"},
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\s+(?!\S)|\s+`}, "behavior": "Isolated"}}}), "Hello"}
		}, []string{"tokenizer.json", "pre_tokenizer.pretokenizers[1].pattern.Regex", "cannot compile"}},
		robustCase{"Split with a look-behind", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "pre_tokenizer", map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "ByteLevel", "use_regex": false},
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(?<=a)b`}, "behavior": "Isolated"}}}), "Hello"}
		}, []string{"tokenizer.json", "pre_tokenizer.pretokenizers[1].pattern.Regex", "look-around"}},
		robustCase{"Split with an invalid regex", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "pre_tokenizer",
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(ab`}, "behavior": "Isolated"}), "Hello"}
		}, []string{"tokenizer.json", "pre_tokenizer.pattern.Regex", "(ab"}},
		robustCase{"an added token id of 2^40", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "added_tokens", []any{
				map[string]any{"id": 1 << 40, "content": "<big>", "special": true}}), "a <big> b"}
		}, []string{"tokenizer.json", "added_tokens[0].id", "1099511627776"}},
		robustCase{"a negative added token id", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "added_tokens", []any{
				map[string]any{"id": 0, "content": "[PAD]", "special": true}, map[string]any{"id": -3, "content": "<neg>"}}), "a <neg> b"}
		}, []string{"tokenizer.json", "added_tokens[1].id", "-3"}},
		robustCase{"a post-processor id of -7", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "post_processor", map[string]any{
				"type": "BertProcessing", "cls": []any{"[CLS]", -7}, "sep": []any{"[SEP]", 102}}), "Hello"}
		}, []string{"tokenizer.json", "post_processor.cls", "-7"}},
		robustCase{"max_input_chars_per_word -1", func(t *testing.T, dir string) []string {
			return []string{"encode", "--tokenizer", tokenizerEdited(t, dir, func(tj map[string]any) { tj["model"].(map[string]any)["max_input_chars_per_word"] = -1 }), "Hello"}
		}, []string{"tokenizer.json", "model.max_input_chars_per_word", "-1"}},
		robustCase{"30 Replace normalizers that each double the text", func(t *testing.T, dir string) []string {
			var seq []any
			for range 30 {
				seq = append(seq, map[string]any{"type": "Replace", "pattern": map[string]any{"String": "a"}, "content": "aa"})
			}
			return []string{"encode", "--tokenizer", tokenizerWith(t, dir, "normalizer", map[string]any{"type": "Sequence", "normalizers": seq}), "banana"}
		}, []string{"tokenizer.json", "normalizer.normalizers[8]", "times longer"}},
		robustCase{manyAddedTokens, func(t *testing.T, dir string) []string {
			// The old scan tried every token at every byte: this took 264 s,
			// now about 1 s (robustTimeLimits allows 2 minutes; the work per
			// byte is bounded: see models/tokenizer's TestAddedTokensLinear).
			tok := tokGPT2Folder(t, gpt2, dir)
			added := map[string]any{}
			for i := range 60000 {
				added[fmt.Sprint(50257+i)] = map[string]any{"content": fmt.Sprintf("<|extra_%d|>", i), "special": true}
			}
			tokWriteJSON(t, filepath.Join(tok, "tokenizer_config.json"), map[string]any{"added_tokens_decoder": added})
			args := []string{"encode", "--tokenizer", tok}
			for range 10 { // ten arguments of 100 KB: one may hold 128 KB
				args = append(args, strings.Repeat("<|extra ", 12500))
			}
			return args
		}, nil},
	)
	return cases
}

// tokGPT2Folder copies GPT-2's tokenizer (encoder.json, vocab.bpe) into
// dir/tok and returns that folder.
func tokGPT2Folder(t *testing.T, gpt2, dir string) string {
	t.Helper()
	tok := filepath.Join(dir, "tok")
	copyFile(t, filepath.Join(gpt2, "encoder.json"), filepath.Join(tok, "encoder.json"))
	copyFile(t, filepath.Join(gpt2, "vocab.bpe"), filepath.Join(tok, "vocab.bpe"))
	return tok
}

// tokGGUF writes a GGUF file holding GPT-2's tokenizer and the chat
// template (metadata only) and returns its path.
func tokGGUF(t *testing.T, gpt2, dir, template string) string {
	t.Helper()
	tok, err := tokenizer.Load(gpt2)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := tok.GGUFMetadata()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tok.gguf")
	meta = append(meta, weights.GGUFKV{Key: "tokenizer.chat_template", Value: template})
	if err := weights.WriteGGUF(path, meta, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func tokWriteJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	tokWriteFile(t, path, string(data))
}

func tokWriteFile(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tokSymlink(t *testing.T, target, path string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func tokMkfifo(t *testing.T, path string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}
