// Package generate produces tokens and text from a causal language model,
// step by step over the model's preallocated KV cache: greedy decoding or
// sampling (temperature, top-k, top-p, repetition penalty, seed), stop
// tokens and stop strings, batches of prompts of different lengths (left
// padded, each row equal to running its prompt alone), per-step
// log-probabilities, and streaming text that never splits a character.
//
// GoMLX's own generate package is not used: its decoding loop re-runs a
// graph per step with host-side cache copies and has no padding masks for
// ragged batches; here the model's Decoder keeps the cache on the device and
// compiles one step graph per batch size and cache length bucket.
package generate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Options controls generation. The zero value generates nothing; set
// MaxNewTokens.
type Options struct {
	// MaxNewTokens is the most tokens generated after the prompt.
	MaxNewTokens int
	// Temperature divides the logits before sampling; 0 means greedy (argmax).
	Temperature float64
	// TopK keeps only the K most likely tokens (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches P (0 or 1: all).
	TopP float64
	// RepetitionPenalty (> 1 discourages repeats) divides the positive logits
	// and multiplies the negative ones of every token already in the
	// sequence, prompt included, as Hugging Face does. 0 or 1: off.
	RepetitionPenalty float64
	// Seed seeds the sampler. Every row of a batch draws from its own
	// generator seeded with Seed, so a row gives what its prompt gives alone.
	Seed uint64
	// StopIDs end a sequence when generated (EOS); the stop token is not
	// returned.
	StopIDs []int32
	// StopStrings end a sequence once its text contains one of them (needs
	// a Generator, which has the tokenizer); the text is cut before it.
	StopStrings []string
	// TopLogProbs, when > 0, records for every step the log-probabilities of
	// the chosen token and of the TopLogProbs most likely ones.
	TopLogProbs int
	// OnToken, when set, is called with each new token of a single-prompt
	// generation as it is produced; returning false stops generation.
	OnToken func(id int32) bool
	// CropContext lets a single prompt run past the model's context: once
	// the context is full, each new token is predicted from the last
	// ContextLength tokens, recomputed without the cache (nanoGPT's
	// generate crops the same way). Without it generation stops there.
	CropContext bool
}

// StopReason says why a sequence ended.
type StopReason string

// The reasons a sequence ends.
const (
	StopLength   StopReason = "length"   // MaxNewTokens reached
	StopToken    StopReason = "stop-id"  // a StopIDs token (EOS) was generated
	StopString   StopReason = "stop-str" // a StopStrings string appeared
	StopContext  StopReason = "context"  // the model's context is full
	StopCallback StopReason = "callback" // OnToken returned false
)

// Candidate is a token and its log-probability under the model (the raw
// distribution, before temperature, penalties and filtering).
type Candidate struct {
	ID      int32
	LogProb float64
}

// Step records one generated token when Options.TopLogProbs > 0.
type Step struct {
	Candidate
	// Top holds the most likely tokens at this step, most likely first.
	Top []Candidate
}

// Chosen returns the token generated at this step.
func (s Step) Chosen() int32 { return s.ID }

// Alternatives returns the most likely tokens at this step and their
// log-probabilities, most likely first (what viz.TopTokens draws).
func (s Step) Alternatives() (ids []int32, logProbs []float64) {
	ids, logProbs = make([]int32, len(s.Top)), make([]float64, len(s.Top))
	for i, c := range s.Top {
		ids[i], logProbs[i] = c.ID, c.LogProb
	}
	return ids, logProbs
}

// Output is one generated sequence.
type Output struct {
	// IDs are the new tokens (without the prompt or a stop token).
	IDs    []int32
	Steps  []Step
	Reason StopReason
}

// Generate continues prompt with up to opts.MaxNewTokens tokens from lm and
// returns the new tokens.
func Generate(lm models.CausalLM, prompt []int32, opts Options) ([]int32, error) {
	outs, err := Run(lm, [][]int32{prompt}, opts, nil)
	if err != nil {
		return nil, err
	}
	return outs[0].IDs, nil
}

// StopFunc reports, after each new token of row, whether that row must stop
// (the text layer uses it for stop strings).
type StopFunc func(row int, ids []int32) bool

// Run generates for a batch of prompts of any lengths. Prompts are left
// padded and masked, positions count real tokens only, and every row samples
// from its own seeded generator, so each row's output equals running its
// prompt alone. stop may be nil.
func Run(lm models.CausalLM, prompts [][]int32, opts Options, stop StopFunc) ([]Output, error) {
	if len(prompts) == 0 {
		return nil, fmt.Errorf("generate: no prompts")
	}
	if !(opts.Temperature >= 0) || opts.TopK < 0 || !(opts.TopP >= 0 && opts.TopP <= 1) || !(opts.RepetitionPenalty >= 0) ||
		math.IsInf(opts.Temperature, 0) || math.IsInf(opts.RepetitionPenalty, 0) {
		return nil, fmt.Errorf("generate: temperature %v, top-k %d, top-p %v, repetition penalty %v out of range",
			opts.Temperature, opts.TopK, opts.TopP, opts.RepetitionPenalty)
	}
	width := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("generate: prompt %d is empty", i)
		}
		width = max(width, len(p))
	}
	outs := make([]Output, len(prompts))
	if opts.MaxNewTokens <= 0 {
		for i := range outs {
			outs[i].Reason = StopLength
		}
		return outs, nil
	}
	limit := lm.ContextLength()
	if opts.CropContext && limit > 0 {
		if len(prompts) != 1 {
			return nil, fmt.Errorf("generate: CropContext works on one prompt at a time, got %d", len(prompts))
		}
		return cropped(lm, prompts[0], limit, opts, stop)
	}
	if limit > 0 && width >= limit {
		return nil, fmt.Errorf("generate: prompt of %d tokens does not fit the model's context of %d", width, limit)
	}
	newTokens := opts.MaxNewTokens
	if limit > 0 {
		newTokens = min(newTokens, limit) // no overflow below, for any MaxNewTokens
	}
	total := width + newTokens
	if limit > 0 {
		total = min(total, limit)
	}
	cache, err := lm.NewCache(len(prompts), bucket(total, limit))
	if err != nil {
		return nil, err
	}
	defer cache.Free()

	// Left-pad the prompts.
	ids := make([][]int32, len(prompts))
	mask := make([][]int32, len(prompts))
	history := make([]map[int32]bool, len(prompts))
	rngs := make([]*rand.Rand, len(prompts))
	for i, p := range prompts {
		ids[i] = make([]int32, width)
		mask[i] = make([]int32, width)
		copy(ids[i][width-len(p):], p)
		for j := width - len(p); j < width; j++ {
			mask[i][j] = 1
		}
		history[i] = map[int32]bool{}
		for _, id := range p {
			history[i][id] = true
		}
		rngs[i] = rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	}
	logits, err := lm.Step(cache, ids, mask)
	if err != nil {
		return nil, err
	}
	active := len(prompts)
	for produced := 0; active > 0; produced++ {
		rows, err := lastRows(logits)
		if err != nil {
			return nil, err
		}
		next := make([][]int32, len(prompts))
		nextMask := make([][]int32, len(prompts))
		for i := range prompts {
			next[i], nextMask[i] = []int32{0}, []int32{0}
			if outs[i].Reason != "" {
				continue
			}
			id, step := pick(rows[i], history[i], opts, rngs[i])
			if contains(opts.StopIDs, id) {
				outs[i].Reason, active = StopToken, active-1
				continue
			}
			outs[i].IDs = append(outs[i].IDs, id)
			if opts.TopLogProbs > 0 {
				outs[i].Steps = append(outs[i].Steps, step)
			}
			history[i][id] = true
			switch {
			case stop != nil && stop(i, outs[i].IDs):
				outs[i].Reason = StopString
			case len(prompts) == 1 && opts.OnToken != nil && !opts.OnToken(id):
				outs[i].Reason = StopCallback
			case len(outs[i].IDs) == opts.MaxNewTokens:
				outs[i].Reason = StopLength
			case width+produced+1 >= total:
				outs[i].Reason = StopContext
			}
			if outs[i].Reason != "" {
				active--
				continue
			}
			next[i], nextMask[i] = []int32{id}, []int32{1}
		}
		if active == 0 {
			break
		}
		if logits, err = lm.Step(cache, next, nextMask); err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// cropped generates for one prompt by full forward passes over at most the
// last limit tokens (no cache), so generation can run past the context.
func cropped(lm models.CausalLM, prompt []int32, limit int, opts Options, stop StopFunc) ([]Output, error) {
	seq := append([]int32(nil), prompt...)
	history := map[int32]bool{}
	for _, id := range prompt {
		history[id] = true
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	var out Output
	for len(out.IDs) < opts.MaxNewTokens {
		// Left-pad to the full context so that one compiled graph serves every step.
		window := seq[max(0, len(seq)-limit):]
		pad := limit - len(window)
		ids, mask, pos := make([]int32, limit), make([]int32, limit), make([]int32, limit)
		copy(ids[pad:], window)
		for i := pad; i < limit; i++ {
			mask[i], pos[i] = 1, int32(i-pad)
		}
		res, err := lm.Forward(modeling.Batch{IDs: [][]int32{ids}, AttentionMask: [][]int32{mask}, PositionIDs: [][]int32{pos}}, modeling.ForwardOptions{})
		if err != nil {
			return nil, err
		}
		rows, err := lastRows(res.Logits)
		if err != nil {
			return nil, err
		}
		id, step := pick(rows[0], history, opts, rng)
		if contains(opts.StopIDs, id) {
			out.Reason = StopToken
			return []Output{out}, nil
		}
		out.IDs = append(out.IDs, id)
		if opts.TopLogProbs > 0 {
			out.Steps = append(out.Steps, step)
		}
		history[id] = true
		seq = append(seq, id)
		if stop != nil && stop(0, out.IDs) {
			out.Reason = StopString
			return []Output{out}, nil
		}
		if opts.OnToken != nil && !opts.OnToken(id) {
			out.Reason = StopCallback
			return []Output{out}, nil
		}
	}
	out.Reason = StopLength
	return []Output{out}, nil
}

// bucket rounds a cache length up to a multiple of 64 (within the context),
// so that calls of similar lengths share one compiled step graph.
func bucket(n, limit int) int {
	b := (n + 63) / 64 * 64
	if limit > 0 && b > limit {
		return limit
	}
	return b
}

func contains(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// lastRows returns each row's logits at the last position of [B, T, V],
// copied to the host, and releases the tensor: the backend reuses its
// memory for the next step at once, rather than when Go's collector
// finalizes it (on the go backend, whose buffers are Go memory, the
// collector lets a process grow by up to the weights' size first).
func lastRows(logits *tensors.Tensor) ([][]float32, error) {
	defer logits.FinalizeAll()
	dims := logits.Shape().Dimensions
	t, v := dims[1], dims[2]
	rows := make([][]float32, dims[0])
	err := logits.ConstFlatData(func(flat any) {
		all := flat.([]float32)
		for b := range rows {
			start := (b*t + t - 1) * v
			rows[b] = append([]float32(nil), all[start:start+v]...)
		}
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// pick chooses the next token from one row's logits: repetition penalty,
// then temperature, top-k and top-p (or argmax when greedy), and records
// log-probabilities when asked.
func pick(logits []float32, history map[int32]bool, opts Options, rng *rand.Rand) (int32, Step) {
	var step Step
	if opts.TopLogProbs > 0 {
		step.Top = topLogProbs(logits, opts.TopLogProbs)
	}
	work := logits
	if p := opts.RepetitionPenalty; p > 0 && p != 1 {
		work = append([]float32(nil), logits...)
		for id := range history {
			if int(id) < len(work) {
				if work[id] > 0 {
					work[id] /= float32(p)
				} else {
					work[id] *= float32(p)
				}
			}
		}
	}
	id := Sample(work, opts.Temperature, opts.TopK, opts.TopP, rng)
	if opts.TopLogProbs > 0 {
		step.Candidate = Candidate{ID: id, LogProb: logSoftmaxAt(logits, int(id))}
	}
	return id, step
}

func logSoftmaxAt(logits []float32, id int) float64 {
	m := float64(logits[0])
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l) - m)
	}
	return float64(logits[id]) - m - math.Log(sum)
}

func topLogProbs(logits []float32, n int) []Candidate {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	n = min(n, len(idx))
	out := make([]Candidate, n)
	for i := range n {
		out[i] = Candidate{ID: int32(idx[i]), LogProb: logSoftmaxAt(logits, idx[i])}
	}
	return out
}

// Sample picks a token from logits: the argmax when temperature is 0 (ties
// go to the lowest id), else a draw from softmax(logits/temperature)
// restricted to the top-k tokens and to the top-p probability mass.
func Sample(logits []float32, temperature float64, topK int, topP float64, rng *rand.Rand) int32 {
	if temperature == 0 {
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if topK > 0 && topK < len(idx) {
		idx = idx[:topK]
	}
	maxL := float64(logits[idx[0]])
	probs := make([]float64, len(idx))
	sum := 0.0
	for i, id := range idx {
		probs[i] = math.Exp((float64(logits[id]) - maxL) / temperature)
		sum += probs[i]
	}
	for i := range probs {
		probs[i] /= sum
	}
	if topP > 0 && topP < 1 {
		acc := 0.0
		for i, p := range probs {
			acc += p
			if acc >= topP {
				idx, probs = idx[:i+1], probs[:i+1]
				for j := range probs {
					probs[j] /= acc
				}
				break
			}
		}
	}
	r := rng.Float64()
	for i, p := range probs {
		r -= p
		if r < 0 {
			return int32(idx[i])
		}
	}
	return int32(idx[len(idx)-1])
}
