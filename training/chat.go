package training

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/tokenizer/jinja"
)

// Chat and instruction data for supervised fine-tuning, prepared as TRL's
// SFTTrainer prepares it (trl 1.16, checked id for id by
// scripts/reference/sft_data.py): JSONL files of chat turns or of prompts
// and completions, the chat template applied, labels -100 where the loss
// ignores a token, truncation, and packing (pack.go).

// IgnoreLabel marks a label the loss ignores: PyTorch's cross_entropy
// ignore_index, which TRL and Hugging Face's models use.
const IgnoreLabel = -100

// SFTExample is one line of a chat or instruction file, in one of TRL's
// formats: conversational ({"messages": [{"role", "content"}, …]}),
// prompt-completion ({"prompt": "…", "completion": "…"}), or
// conversational prompt-completion (prompt and completion are lists of
// turns).
type SFTExample struct {
	Messages []tokenizer.Message
	// Prompt and Completion are a plain pair's text.
	Prompt, Completion string
	// PromptMessages and CompletionMessages are a conversational pair's
	// turns.
	PromptMessages, CompletionMessages []tokenizer.Message
}

// maxSFTFile bounds a chat or instruction file (ReadSFTFile).
const maxSFTFile = 4 << 30

// ReadSFTFile reads a JSONL file of SFTExamples, one object per line
// (blank lines skipped, other fields ignored). A line that is none of the
// formats is an error naming the file and the line.
func ReadSFTFile(path string) ([]SFTExample, error) {
	f, err := files.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	var out []SFTExample
	var read int64
	for line := 1; sc.Scan(); line++ {
		read += int64(len(sc.Bytes())) + 1
		if read > maxSFTFile {
			return nil, fmt.Errorf("%s: more than %d bytes", path, int64(maxSFTFile))
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		ex, err := parseSFTLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no examples", path)
	}
	return out, nil
}

// parseSFTLine reads one JSON object as an SFTExample.
func parseSFTLine(text []byte) (SFTExample, error) {
	var raw struct {
		Messages, Prompt, Completion json.RawMessage
	}
	var ex SFTExample
	if err := json.Unmarshal(text, &raw); err != nil {
		return ex, err
	}
	switch {
	case raw.Messages != nil:
		if err := json.Unmarshal(raw.Messages, &ex.Messages); err != nil {
			return ex, fmt.Errorf("field \"messages\": want a list of {\"role\", \"content\"} turns: %w", err)
		}
		return ex, checkTurns("messages", ex.Messages)
	case raw.Prompt != nil && raw.Completion != nil:
		if raw.Prompt[0] == '[' {
			if err := json.Unmarshal(raw.Prompt, &ex.PromptMessages); err != nil {
				return ex, fmt.Errorf("field \"prompt\": %w", err)
			}
			if err := json.Unmarshal(raw.Completion, &ex.CompletionMessages); err != nil {
				return ex, fmt.Errorf("field \"completion\": both prompt and completion must be lists of turns: %w", err)
			}
			if err := checkTurns("prompt", ex.PromptMessages); err != nil {
				return ex, err
			}
			return ex, checkTurns("completion", ex.CompletionMessages)
		}
		if err := json.Unmarshal(raw.Prompt, &ex.Prompt); err != nil {
			return ex, fmt.Errorf("field \"prompt\": want a string or a list of turns: %w", err)
		}
		if err := json.Unmarshal(raw.Completion, &ex.Completion); err != nil {
			return ex, fmt.Errorf("field \"completion\": both prompt and completion must be strings: %w", err)
		}
		return ex, nil
	}
	return ex, fmt.Errorf("neither \"messages\" nor \"prompt\" and \"completion\": not a chat or instruction example")
}

// checkTurns rejects an empty conversation and turns without a role.
func checkTurns(field string, turns []tokenizer.Message) error {
	if len(turns) == 0 {
		return fmt.Errorf("field %q: no turns", field)
	}
	for i, m := range turns {
		if m.Role == "" {
			return fmt.Errorf("field %q: turn %d has no role", field, i)
		}
	}
	return nil
}

// SFTOptions is how examples become training sequences; the fields are
// TRL's SFTConfig fields of the same meaning.
type SFTOptions struct {
	// MaxLength truncates each example to its first MaxLength tokens
	// (TRL's max_length, truncation_mode "keep_start"); with Packing it is
	// the length of a packed row. 0: no truncation, and no packing.
	MaxLength int
	// AssistantOnlyLoss keeps the labels of the assistant's tokens only:
	// those the chat template renders inside {% generation %} blocks, as
	// transformers' assistant masks find them. As in TRL, a template
	// without such blocks is an error: pass one in Template.
	AssistantOnlyLoss bool
	// PromptLoss trains prompt-completion pairs on the prompt's tokens too
	// (TRL's completion_only_loss=False); by default only the
	// completion's tokens count.
	PromptLoss bool
	// Packing packs several examples into rows of MaxLength tokens, best
	// fit decreasing (TRL's packing=True, packing_strategy "bfd").
	Packing bool
	// Template is the chat template (default: the tokenizer's own).
	Template string
}

// SFTSequence is one example tokenized: its ids and its labels, the ids
// themselves where the loss counts them and IgnoreLabel elsewhere, not
// shifted (as Hugging Face's labels: the model predicts Labels[t+1] at t).
type SFTSequence struct {
	IDs, Labels []int32
}

// TokenizeSFT tokenizes examples as TRL's SFTTrainer does before it
// truncates or packs: chats through the chat template (with
// AssistantOnlyLoss, labels only inside its {% generation %} blocks);
// conversational pairs through the template too, the completion starting
// where the ids of the prompt with the generation prompt and of the whole
// conversation part; plain pairs as raw text (no template), prompt then
// prompt+completion+EOS. Pairs keep labels on the completion only unless
// PromptLoss.
func TokenizeSFT(tok *tokenizer.Tokenizer, examples []SFTExample, opts SFTOptions) ([]SFTSequence, error) {
	out := make([]SFTSequence, len(examples))
	for i, ex := range examples {
		var err error
		if out[i], err = tokenizeExample(tok, ex, opts); err != nil {
			return nil, fmt.Errorf("example %d: %w", i, err)
		}
	}
	return out, nil
}

func tokenizeExample(tok *tokenizer.Tokenizer, ex SFTExample, opts SFTOptions) (SFTSequence, error) {
	chat := tokenizer.ChatOptions{Template: opts.Template}
	switch {
	case ex.Messages != nil:
		return tokenizeChat(tok, ex.Messages, chat, opts.AssistantOnlyLoss)
	case ex.PromptMessages != nil:
		all := append(append([]tokenizer.Message{}, ex.PromptMessages...), ex.CompletionMessages...)
		seq, err := tokenizeChat(tok, all, chat, opts.AssistantOnlyLoss)
		if err != nil {
			return seq, err
		}
		chat.AddGenerationPrompt = true
		text, err := tok.ApplyChatTemplate(ex.PromptMessages, chat)
		if err != nil {
			return seq, err
		}
		return maskPrompt(seq, tok.EncodeWith(text, tokenizer.EncodeOptions{NoSpecialTokens: true}), opts.PromptLoss), nil
	}
	if opts.AssistantOnlyLoss {
		return SFTSequence{}, fmt.Errorf("AssistantOnlyLoss needs conversational examples, this one is a plain prompt and completion")
	}
	completion := ex.Completion
	if eos, ok := tok.IDToToken(tok.Special.EOS); ok && tok.Special.Has(tok.Special.EOS) && !hasSuffix(completion, eos) {
		completion += eos // TRL's add_eos, on plain text only
	}
	ids := tok.Encode(ex.Prompt + completion)
	seq := SFTSequence{IDs: ids, Labels: append([]int32(nil), ids...)}
	return maskPrompt(seq, tok.Encode(ex.Prompt), opts.PromptLoss), nil
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

// maskPrompt ignores the labels of seq's prompt: its ids up to where they
// stop matching promptIDs (TRL's common_prefix_length: a template may
// render the prompt alone differently from the whole conversation).
func maskPrompt(seq SFTSequence, promptIDs []int32, keep bool) SFTSequence {
	if keep {
		return seq
	}
	n := 0
	for n < len(promptIDs) && n < len(seq.IDs) && promptIDs[n] == seq.IDs[n] {
		n++
	}
	for i := range n {
		seq.Labels[i] = IgnoreLabel
	}
	return seq
}

// tokenizeChat renders turns with the template and tokenizes the text
// (the template writes the special tokens itself); with assistantOnly the
// labels outside its generation blocks are ignored.
func tokenizeChat(tok *tokenizer.Tokenizer, turns []tokenizer.Message, chat tokenizer.ChatOptions, assistantOnly bool) (SFTSequence, error) {
	r, err := tok.RenderChat(turns, chat)
	if err != nil {
		return SFTSequence{}, err
	}
	ids := tok.EncodeWith(r.Text, tokenizer.EncodeOptions{NoSpecialTokens: true})
	seq := SFTSequence{IDs: ids, Labels: append([]int32(nil), ids...)}
	if !assistantOnly {
		return seq, nil
	}
	if len(r.Generation) == 0 {
		return seq, fmt.Errorf("AssistantOnlyLoss: the chat template has no {%% generation %%} blocks, so nothing marks the assistant's tokens (TRL refuses it too): pass SFTOptions.Template, the model's template with the assistant's turns inside {%% generation %%}…{%% endgeneration %%}")
	}
	spans, err := tokenSpans(tok, ids, r.Text)
	if err != nil {
		return seq, err
	}
	mask := assistantMask(spans, r.Text, r.Generation)
	for i, m := range mask {
		if !m {
			seq.Labels[i] = IgnoreLabel
		}
	}
	return seq, nil
}

// span is a token's byte range [start, end) in the text it was encoded
// from.
type span struct{ start, end int }

// tokenSpans returns the byte range of each of ids in text: the tokens'
// bytes laid end to end, which spell text for byte-level BPE (one leading
// space more for SentencePiece models that prefix one).
func tokenSpans(tok *tokenizer.Tokenizer, ids []int32, text string) ([]span, error) {
	spans := make([]span, len(ids))
	var spelled []byte
	for i, id := range ids {
		b, ok := tok.TokenBytes(id)
		if !ok {
			return nil, fmt.Errorf("AssistantOnlyLoss: token %d has no bytes of its own in this tokenizer (%s), so the assistant's tokens cannot be found", id, tok.Format())
		}
		spans[i] = span{len(spelled), len(spelled) + len(b)}
		spelled = append(spelled, b...)
	}
	shift := 0
	if string(spelled) != text {
		if string(spelled) != " "+text {
			return nil, fmt.Errorf("AssistantOnlyLoss: this tokenizer's (%s) tokens do not spell the text they encode (a normalizer changes it), so the assistant's tokens cannot be found", tok.Format())
		}
		shift = 1
	}
	for i := range spans {
		spans[i].start, spans[i].end = max(spans[i].start-shift, 0), spans[i].end-shift
	}
	return spans, nil
}

// assistantMask marks the tokens inside the generation blocks as
// transformers' apply_chat_template(return_assistant_tokens_mask=True)
// does: from the token holding a block's first character to the one
// holding its last; a block whose start no token holds ends the marking,
// and one whose end no token holds (or token 0) runs to the end.
func assistantMask(spans []span, text string, blocks []jinja.Span) []bool {
	mask := make([]bool, len(spans))
	for _, b := range blocks {
		first := tokenAt(spans, b.Start)
		if first < 0 {
			break
		}
		_, size := utf8.DecodeLastRuneInString(text[:b.End])
		last := tokenAt(spans, b.End-max(size, 1))
		end := len(spans)
		if last > 0 {
			end = last + 1
		}
		for i := first; i < end; i++ {
			mask[i] = true
		}
	}
	return mask
}

// tokenAt returns the first token whose span holds byte pos, or -1.
func tokenAt(spans []span, pos int) int {
	for i, s := range spans {
		if pos >= s.start && pos < s.end {
			return i
		}
	}
	return -1
}
