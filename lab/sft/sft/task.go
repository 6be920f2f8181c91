package sft

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// Problem is one question of the task with its one right answer.
type Problem struct {
	// Kind is what the question asks: "add", "sub", "km_to_m",
	// "hours_to_minutes" or "reverse".
	Kind     string `json:"kind"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// SystemPrompt opens every conversation of the task, in training and when
// the model is asked.
const SystemPrompt = "Answer with the result only."

// words are the short words the reversal questions reverse.
var words = []string{"cat", "dog", "sun", "map", "pen", "cup", "box", "tree", "lamp", "fish", "bird", "rain",
	"star", "moon", "book", "door", "milk", "salt", "rose", "wolf", "frog", "ship", "coin", "leaf", "bell",
	"drum", "kite", "nest", "ring", "snow", "apple", "house", "train", "plant", "stone", "cloud", "river",
	"horse", "bread", "chair"}

// problemKinds are the task's kinds, drawn with equal chance.
var problemKinds = []string{"add", "sub", "km_to_m", "hours_to_minutes", "reverse"}

// newProblem draws one problem of a random kind from rng.
func newProblem(rng *rand.Rand) Problem {
	kind := problemKinds[rng.IntN(len(problemKinds))]
	switch kind {
	case "add":
		a, b := 10+rng.IntN(90), 10+rng.IntN(90)
		return Problem{kind, fmt.Sprintf("What is %d + %d?", a, b), fmt.Sprint(a + b)}
	case "sub":
		a, b := 10+rng.IntN(90), 10+rng.IntN(90)
		a, b = max(a, b), min(a, b)
		return Problem{kind, fmt.Sprintf("What is %d - %d?", a, b), fmt.Sprint(a - b)}
	case "km_to_m":
		km := 2 + rng.IntN(98)
		return Problem{kind, fmt.Sprintf("How many meters are in %d km?", km), fmt.Sprint(km * 1000)}
	case "hours_to_minutes":
		h := 2 + rng.IntN(23)
		return Problem{kind, fmt.Sprintf("How many minutes are in %d hours?", h), fmt.Sprint(h * 60)}
	default:
		w := words[rng.IntN(len(words))]
		r := []rune(w)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return Problem{kind, fmt.Sprintf("Reverse the word %q.", w), string(r)}
	}
}

// Generate draws train+heldOut distinct problems from a PCG stream seeded
// with seed and splits them: no held-out question is also a training one.
// The same seed gives the same problems.
func Generate(seed uint64, train, heldOut int) (trainSet, heldOutSet []Problem, err error) {
	rng := rand.New(rand.NewPCG(seed, 0x5f7))
	seen := map[string]bool{}
	var all []Problem
	for tries := 0; len(all) < train+heldOut; tries++ {
		if tries > 100*(train+heldOut) {
			return nil, nil, fmt.Errorf("sft: only %d distinct problems found, %d asked for", len(all), train+heldOut)
		}
		p := newProblem(rng)
		if seen[p.Question] {
			continue
		}
		seen[p.Question] = true
		all = append(all, p)
	}
	return all[:train], all[train:], nil
}

// Messages returns the problem as a conversation: the system prompt, the
// question, and (withAnswer) the answer as the assistant's turn.
func (p Problem) Messages(withAnswer bool) []tokenizer.Message {
	m := []tokenizer.Message{{Role: "system", Content: SystemPrompt}, {Role: "user", Content: p.Question}}
	if withAnswer {
		m = append(m, tokenizer.Message{Role: "assistant", Content: p.Answer})
	}
	return m
}

// WriteJSONL writes problems to path as chat JSONL in TRL's "messages"
// format (one conversation a line, the answer as the assistant's turn),
// which training.LoadSFTDataset and TRL's SFTTrainer both read.
func WriteJSONL(path string, problems []Problem) error {
	var b strings.Builder
	for _, p := range problems {
		line, err := json.Marshal(map[string]any{"messages": p.Messages(true), "kind": p.Kind})
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return files.WriteFile(path, []byte(b.String()))
}

// Extract returns the answer a reply gives, as exact match grades it: its
// first line, without surrounding spaces and quotes or a final period,
// thousands commas dropped from a number, a word lower-cased. "85.",
// "\"tac\"" and "7,000" are read as 85, tac and 7000; "The answer is 85"
// stays a sentence, and is wrong.
func Extract(kind, reply string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(reply), "\n")
	line = strings.Trim(strings.TrimSpace(line), "\"'`.")
	if kind == "reverse" {
		return strings.ToLower(line)
	}
	if n := strings.ReplaceAll(line, ",", ""); isNumber(n) {
		return n
	}
	return line
}

// isNumber reports whether s is an optional minus sign and digits.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// Correct reports whether reply answers p exactly (after Extract).
func (p Problem) Correct(reply string) bool { return Extract(p.Kind, reply) == p.Answer }
