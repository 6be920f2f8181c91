package generate

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// Generator pairs a causal language model with its tokenizer, for
// generation from text to text.
type Generator struct {
	Model     models.CausalLM
	Tokenizer *tokenizer.Tokenizer
}

// Result is one text generation.
type Result struct {
	// Text is the generated continuation (without the prompt), cut before a
	// stop string.
	Text string
	Output
}

// prepare encodes prompts and adds the tokenizer's EOS to the stop ids.
func (g *Generator) prepare(prompts []string, opts Options) ([][]int32, Options, error) {
	if g.Model == nil || g.Tokenizer == nil {
		return nil, opts, fmt.Errorf("generate: Generator needs a Model and a Tokenizer")
	}
	ids := make([][]int32, len(prompts))
	for i, p := range prompts {
		ids[i] = g.Tokenizer.Encode(p)
		if len(ids[i]) == 0 {
			start := g.Tokenizer.Special.BOS
			if !g.Tokenizer.Special.Has(start) {
				start = g.Tokenizer.Special.EOS // GPT-2 starts unconditional text from <|endoftext|>
			}
			if !g.Tokenizer.Special.Has(start) {
				return nil, opts, fmt.Errorf("generate: prompt %d encodes to no tokens and the tokenizer has no BOS or EOS to start from", i)
			}
			ids[i] = []int32{start}
		}
	}
	if eos := g.Tokenizer.Special.EOS; g.Tokenizer.Special.Has(eos) && !contains(opts.StopIDs, eos) {
		opts.StopIDs = append(append([]int32(nil), opts.StopIDs...), eos)
	}
	return ids, opts, nil
}

func (g *Generator) decode(ids []int32) string { return g.Tokenizer.Decode(ids, true) }

// stopStrings ends a row once its text holds one of the strings.
type stopStrings struct {
	g       *Generator
	strings []string
}

func (s stopStrings) ShouldStop(generated []int32) bool {
	_, found := cut(s.g.decode(generated), s.strings)
	return found
}

func (stopStrings) reason() StopReason { return StopString }

// cut returns text up to the first stop string, and whether one was found.
func cut(text string, stops []string) (string, bool) {
	best := -1
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best < 0 {
		return text, false
	}
	return text[:best], true
}

// pendingStop returns the length of the longest tail of text that is a
// proper prefix of a stop string (text that a later token may complete).
func pendingStop(text string, stops []string) int {
	longest := 0
	for _, s := range stops {
		for n := min(len(s)-1, len(text)); n > longest; n-- {
			if strings.HasSuffix(text, s[:n]) {
				longest = n
				break
			}
		}
	}
	return longest
}

// Batch generates a continuation for every prompt; each equals what the
// prompt gives alone.
func (g *Generator) Batch(prompts []string, opts Options) ([]*Result, error) {
	ids, opts, err := g.prepare(prompts, opts)
	if err != nil {
		return nil, err
	}
	return g.run(ids, opts)
}

// Chat answers a conversation: the messages rendered by the tokenizer's
// chat template with the assistant's turn opened
// (tokenizer.ApplyChatTemplate), encoded without adding special tokens (the
// template writes them), then continued. chat.Template and chat.Vars are
// passed to the template.
func (g *Generator) Chat(messages []tokenizer.Message, chat tokenizer.ChatOptions, opts Options) (*Result, error) {
	if g.Model == nil || g.Tokenizer == nil {
		return nil, fmt.Errorf("generate: Generator needs a Model and a Tokenizer")
	}
	chat.AddGenerationPrompt = true
	text, err := g.Tokenizer.ApplyChatTemplate(messages, chat)
	if err != nil {
		return nil, err
	}
	ids := g.Tokenizer.EncodeWith(text, tokenizer.EncodeOptions{NoSpecialTokens: true})
	if len(ids) == 0 {
		return nil, fmt.Errorf("generate: the chat template rendered %d messages as no tokens", len(messages))
	}
	_, opts, err = g.prepare(nil, opts)
	if err != nil {
		return nil, err
	}
	rs, err := g.run([][]int32{ids}, opts)
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// run generates from encoded prompts, cutting the text at stop strings.
func (g *Generator) run(ids [][]int32, opts Options) ([]*Result, error) {
	if len(opts.StopStrings) > 0 {
		opts.Stopping = append(slices.Clone(opts.Stopping), stopStrings{g, opts.StopStrings})
	}
	outs, err := Run(g.Model, ids, opts)
	if err != nil {
		return nil, err
	}
	results := make([]*Result, len(outs))
	for i, o := range outs {
		text, _ := cut(g.decode(o.IDs), opts.StopStrings)
		results[i] = &Result{Text: text, Output: o}
	}
	return results, nil
}

// Generate continues prompt.
func (g *Generator) Generate(prompt string, opts Options) (*Result, error) {
	rs, err := g.Batch([]string{prompt}, opts)
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// Stream continues prompt and yields the text as it is generated, piece by
// piece; a piece never ends inside a multi-byte character, and the pieces
// joined equal Generate's Text for the same options. Breaking out of the
// loop stops generation.
func (g *Generator) Stream(prompt string, opts Options) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		ids, opts, err := g.prepare([]string{prompt}, opts)
		if err != nil {
			yield("", err)
			return
		}
		dec := g.Tokenizer.NewStreamDecoder(true)
		var shown strings.Builder
		var full strings.Builder
		stopped := false
		opts.OnToken = func(id int32) bool {
			full.WriteString(dec.Next(id))
			text, found := cut(full.String(), opts.StopStrings)
			if !found {
				// Hold back a tail that may be the start of a stop string.
				text = text[:len(text)-pendingStop(text, opts.StopStrings)]
			}
			if fresh := text[shown.Len():]; fresh != "" {
				shown.WriteString(fresh)
				if !yield(fresh, nil) {
					stopped = true
					return false
				}
			}
			return !found
		}
		if _, err := Run(g.Model, ids, opts); err != nil {
			if !stopped {
				yield("", err)
			}
			return
		}
		if stopped {
			return
		}
		rest := full.String() + dec.Flush()
		if text, _ := cut(rest, opts.StopStrings); len(text) > shown.Len() {
			yield(text[shown.Len():], nil)
		}
	}
}
