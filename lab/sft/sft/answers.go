package sft

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// answerBatch is how many questions are answered together: the held-out
// set in one batch, so that the prefill and decoding graphs compile once
// (each compilation of SmolLM2's graph costs seconds).
const answerBatch = 64

// Replies asks lm each problem's question through the tokenizer's own chat
// template (with the system prompt and the generation prompt) and returns
// the greedy replies, decoded without special tokens, up to maxNew tokens
// each (a reply ends at the model's EOS).
func Replies(lm models.CausalLM, tok *tokenizer.Tokenizer, problems []Problem, maxNew int) ([]string, error) {
	prompts := make([][]int32, len(problems))
	for i, p := range problems {
		text, err := tok.ApplyChatTemplate(p.Messages(false), tokenizer.ChatOptions{AddGenerationPrompt: true})
		if err != nil {
			return nil, err
		}
		prompts[i] = tok.Encode(text)
	}
	var stop []int32
	if tok.Special.Has(tok.Special.EOS) {
		stop = append(stop, tok.Special.EOS)
	}
	replies := make([]string, 0, len(problems))
	for start := 0; start < len(prompts); start += answerBatch {
		outs, err := generate.Run(lm, prompts[start:min(start+answerBatch, len(prompts))],
			generate.Options{MaxNewTokens: maxNew, StopIDs: stop})
		if err != nil {
			return nil, fmt.Errorf("sft: answering: %w", err)
		}
		for _, o := range outs {
			replies = append(replies, strings.TrimSpace(tok.Decode(o.IDs, true)))
		}
	}
	return replies, nil
}

// Accuracy returns the share of replies that answer their problems
// exactly.
func Accuracy(problems []Problem, replies []string) float64 {
	right := 0
	for i, p := range problems {
		if p.Correct(replies[i]) {
			right++
		}
	}
	return float64(right) / float64(max(len(problems), 1))
}

// grade sets the accuracies and answers from the replies before and after.
func (res *Result) grade(problems []Problem, before, after []string) {
	res.Before, res.After = Accuracy(problems, before), Accuracy(problems, after)
	res.Answers = make([]Answer, len(problems))
	for i, p := range problems {
		res.Answers[i] = Answer{Problem: p, Before: before[i], After: after[i]}
	}
}

// writeAnswers writes answers to path, one JSON object a line.
func writeAnswers(path string, answers []Answer) error {
	var b strings.Builder
	for _, a := range answers {
		line, err := json.Marshal(a)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return files.WriteFile(path, []byte(b.String()))
}

// ReadAnswers reads a run folder's answers.jsonl (each held-out question
// with the replies before and after).
func ReadAnswers(path string) ([]Answer, error) {
	data, err := files.ReadFile(path, files.ConfigLimit)
	if err != nil {
		return nil, fmt.Errorf("sft: %w", err)
	}
	var out []Answer
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a Answer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return nil, fmt.Errorf("sft: %s: line %d: %w", path, i+1, err)
		}
		out = append(out, a)
	}
	return out, nil
}
