package generate

import (
	"math"
	"slices"
	"time"
)

// A LogitsProcessor changes one row's next-token scores before the token is
// chosen, as Hugging Face's LogitsProcessor does. Run applies the
// repetition penalty, then Options.Processors in order, then the sampling
// filters (temperature, top-k, top-p, min-p, typical-p); beam search scores
// the processed logits.
type LogitsProcessor interface {
	// Process changes scores (the vocabulary's logits, as earlier
	// processors left them) in place. ids is the row's sequence so far,
	// prompt included; a processor must not keep or change it.
	Process(ids []int32, scores []float32)
}

// LogitsFunc is a LogitsProcessor written as a function.
type LogitsFunc func(ids []int32, scores []float32)

// Process calls f.
func (f LogitsFunc) Process(ids []int32, scores []float32) { f(ids, scores) }

var negInf = float32(math.Inf(-1))

// BanTokens makes ids impossible (Hugging Face's suppress_tokens). Ids
// outside the vocabulary are ignored.
func BanTokens(ids ...int32) LogitsProcessor {
	banned := slices.Clone(ids)
	return LogitsFunc(func(_ []int32, scores []float32) {
		for _, id := range banned {
			if id >= 0 && int(id) < len(scores) {
				scores[id] = negInf
			}
		}
	})
}

// namedProcessor is a LogitsProcessor that says where it comes from (a
// field of a generation_config.json), for the error Run gives when the
// processors leave no token possible.
type namedProcessor struct {
	LogitsProcessor
	name string
}

func (p namedProcessor) String() string { return p.name }

// NoRepeatNGram makes impossible every token that would repeat an n-gram
// already in the sequence, prompt included (Hugging Face's
// no_repeat_ngram_size). n < 1 bans nothing.
func NoRepeatNGram(n int) LogitsProcessor {
	return LogitsFunc(func(ids []int32, scores []float32) {
		if n < 1 || len(ids)+1 < n {
			return
		}
		prefix := ids[len(ids)-(n-1):] // the n-1 tokens the next one would extend
		for start := 0; start+n <= len(ids); start++ {
			if slices.Equal(ids[start:start+n-1], prefix) {
				if next := ids[start+n-1]; int(next) < len(scores) && next >= 0 {
					scores[next] = negInf
				}
			}
		}
	})
}

// A StoppingCriterion ends one row's generation early, as Hugging Face's
// StoppingCriteria do. Run asks after every new token.
type StoppingCriterion interface {
	// ShouldStop reports whether the row must end; generated holds the
	// tokens generated so far (without the prompt), the newest last.
	ShouldStop(generated []int32) bool
}

// StopWhen is a StoppingCriterion written as a function.
type StopWhen func(generated []int32) bool

// ShouldStop calls f.
func (f StopWhen) ShouldStop(generated []int32) bool { return f(generated) }

// MaxTime ends generation once d has passed since MaxTime was called
// (Hugging Face's max_time); the token that crosses it is kept.
func MaxTime(d time.Duration) StoppingCriterion {
	deadline := time.Now().Add(d)
	return StopWhen(func([]int32) bool { return !time.Now().Before(deadline) })
}

// minP keeps, of the candidates idx (most likely first) and their
// probabilities, those at least share times as likely as the first
// (Hugging Face's MinPLogitsWarper); the first always stays. The kept
// probabilities are renormalized.
func minP(idx []int, probs []float64, share float64) ([]int, []float64) {
	if !(share > 0) {
		return idx, probs
	}
	n := 1
	for n < len(probs) && probs[n] >= share*probs[0] {
		n++
	}
	return idx[:n], renormalized(probs[:n])
}

// typical keeps, of the candidates idx and their probabilities, the locally
// typical ones (Meister et al. 2022, Hugging Face's TypicalLogitsWarper):
// sorted by how far their surprisal is from the distribution's entropy,
// closest first, tokens are kept until their mass reaches mass, and so is
// every token as typical as the last one kept; at least one stays. The
// kept ones stay in their order, renormalized.
func typical(idx []int, probs []float64, mass float64) ([]int, []float64) {
	if !(mass > 0 && mass < 1) {
		return idx, probs
	}
	entropy := 0.0
	for _, p := range probs {
		if p > 0 {
			entropy -= p * math.Log(p)
		}
	}
	shift := make([]float64, len(probs))
	for i, p := range probs {
		shift[i] = math.Abs(-math.Log(p) - entropy)
	}
	order := make([]int, len(probs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(shift[a], shift[b]) })
	// Hugging Face counts the tokens whose cumulative mass stays below mass:
	// the next one is the last kept, with every token as close as it.
	acc, last := 0.0, 0
	for i, k := range order {
		acc += probs[k]
		if acc >= mass {
			break
		}
		last = i + 1
	}
	cut := shift[order[min(last, len(order)-1)]]
	keepIdx, keepProbs := idx[:0:0], probs[:0:0]
	for i := range probs {
		if shift[i] <= cut || i == order[0] {
			keepIdx, keepProbs = append(keepIdx, idx[i]), append(keepProbs, probs[i])
		}
	}
	return keepIdx, renormalized(keepProbs)
}

func renormalized(probs []float64) []float64 {
	sum := 0.0
	for _, p := range probs {
		sum += p
	}
	out := make([]float64, len(probs))
	for i, p := range probs {
		out[i] = p / sum
	}
	return out
}

func argmax(scores []float32) int {
	best := 0
	for i, s := range scores {
		if s > scores[best] {
			best = i
		}
	}
	return best
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
