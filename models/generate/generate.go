// Package generate produces tokens and text from a causal language model,
// step by step over the model's preallocated KV cache: greedy decoding,
// sampling (temperature, top-k, top-p, min-p, typical-p, repetition
// penalty, seed) or beam search (Hugging Face's, length penalty and early
// stopping included); logits processors (banned tokens, no-repeat n-grams,
// your own function) and stopping criteria; stop tokens and stop strings;
// batches of prompts of different lengths (left padded, each row equal to
// running its prompt alone); per-step log-probabilities; chat templates;
// generation_config.json defaults; and streaming text that never splits a
// character.
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
	"slices"
	"sort"
	"strings"

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
	// MinP keeps the tokens at least MinP times as likely as the most
	// likely one, after temperature, top-k and top-p (0: off).
	MinP float64
	// TypicalP keeps the locally typical tokens (typical sampling) up to
	// this probability mass, after min-p (0 or 1: off).
	TypicalP float64
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
	// MinNewTokens keeps the StopIDs impossible until this many tokens are
	// generated.
	MinNewTokens int
	// Processors change every row's logits before its token is chosen,
	// after RepetitionPenalty, in order (BanTokens, NoRepeatNGram,
	// LogitsFunc).
	Processors []LogitsProcessor
	// Stopping ends a row as soon as one criterion says so (MaxTime,
	// StopWhen); the token that triggered it is kept.
	Stopping []StoppingCriterion
	// StopStrings end a sequence once its text contains one of them (needs
	// a Generator, which has the tokenizer); the text is cut before it.
	StopStrings []string
	// Hooks change the network's activations at every step of the
	// generation, the prompt's included (a steering vector added at a
	// layer's output: modeling.Intervention with Add and no Positions);
	// positions count along each step's tokens. They cache nothing.
	Hooks *modeling.Hooks
	// TopLogProbs, when > 0, records for every step the log-probabilities of
	// the chosen token and of the TopLogProbs most likely ones.
	TopLogProbs int
	// OnToken, when set, is called with each new token of a single-prompt
	// generation as it is produced; returning false stops generation.
	OnToken func(id int32) bool
	// NumReturnSequences is how many sequences each prompt gives (0: one):
	// sampled ones, the j-th drawn from a generator seeded with (Seed, j),
	// or the best finished beams. Outputs come prompt by prompt.
	NumReturnSequences int
	// NumBeams > 1 searches with that many beams, as Hugging Face's beam
	// search does: the log-probabilities after Processors, summed, and
	// finished hypotheses scored by that sum over (generated tokens,
	// stop token included)^LengthPenalty. It is deterministic: Temperature
	// must be 0.
	NumBeams int
	// LengthPenalty is beam search's length exponent; 0 means Hugging
	// Face's default, 1. Above 1 favours longer sequences, below shorter
	// ones; the plain sum (length_penalty=0) is any tiny positive value,
	// such as math.SmallestNonzeroFloat64.
	LengthPenalty float64
	// EarlyStopping says when beam search ends.
	EarlyStopping EarlyStopping
	// CropContext lets a single prompt run past the model's context: once
	// the context is full, each new token is predicted from the last
	// ContextLength tokens, recomputed without the cache (nanoGPT's
	// generate crops the same way). Without it generation stops there.
	CropContext bool
}

// EarlyStopping is Hugging Face's early_stopping for beam search.
type EarlyStopping string

// The ways beam search may end.
const (
	// EarlyStopHeuristic (false, the default) ends when NumBeams
	// hypotheses are finished and the best running beam, scored at its
	// current length, cannot beat the worst of them.
	EarlyStopHeuristic EarlyStopping = ""
	// EarlyStopDone (true) ends as soon as NumBeams hypotheses are finished.
	EarlyStopDone EarlyStopping = "true"
	// EarlyStopNever ("never") ends only when no running beam can beat the
	// finished ones at any length up to MaxNewTokens.
	EarlyStopNever EarlyStopping = "never"
)

// StopReason says why a sequence ended.
type StopReason string

// The reasons a sequence ends.
const (
	StopLength   StopReason = "length"   // MaxNewTokens reached
	StopToken    StopReason = "stop-id"  // a StopIDs token (EOS) was generated
	StopString   StopReason = "stop-str" // a StopStrings string appeared
	StopContext  StopReason = "context"  // the model's context is full
	StopCallback StopReason = "callback" // OnToken returned false
	StopCriteria StopReason = "criteria" // a StoppingCriterion said so
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
	// Score is a beam search hypothesis' score (its summed
	// log-probabilities over its length^LengthPenalty, Hugging Face's
	// sequences_scores); 0 otherwise.
	Score float64
}

// Generate continues prompt with up to opts.MaxNewTokens tokens from lm and
// returns the new tokens.
func Generate(lm models.CausalLM, prompt []int32, opts Options) ([]int32, error) {
	outs, err := Run(lm, [][]int32{prompt}, opts)
	if err != nil {
		return nil, err
	}
	return outs[0].IDs, nil
}

// Run generates for a batch of prompts of any lengths. Prompts are left
// padded and masked, positions count real tokens only, and every row samples
// from its own seeded generator (and beams stay within their prompt), so
// each prompt's outputs equal running it alone.
func Run(lm models.CausalLM, prompts [][]int32, opts Options) ([]Output, error) {
	if err := check(prompts, opts); err != nil {
		return nil, err
	}
	if opts.MaxNewTokens == 0 {
		outs := make([]Output, len(prompts)*max(opts.NumReturnSequences, 1))
		for i := range outs {
			outs[i].Reason = StopLength
		}
		return outs, nil
	}
	limit := lm.ContextLength()
	width := 0
	for _, p := range prompts {
		width = max(width, len(p))
	}
	if opts.CropContext && limit > 0 {
		if len(prompts) != 1 || opts.NumBeams > 1 || opts.NumReturnSequences > 1 {
			return nil, fmt.Errorf("generate: CropContext works on one prompt and one sequence at a time, without beams")
		}
		return cropped(lm, prompts[0], limit, opts)
	}
	if limit > 0 && width >= limit {
		return nil, fmt.Errorf("generate: prompt of %d tokens does not fit the model's context of %d", width, limit)
	}
	if opts.NumBeams > 1 {
		return beamSearch(lm, prompts, width, limit, opts)
	}
	return sampled(lm, prompts, width, limit, opts)
}

// sampled generates, greedily or by sampling, NumReturnSequences rows per
// prompt over one KV cache, the prompts left-padded to width tokens. The
// j-th row of a prompt is seeded with (Seed, j).
func sampled(lm models.CausalLM, prompts [][]int32, width, limit int, opts Options) ([]Output, error) {
	// The cache, whose size is checked against the memory left, comes
	// before anything else allocated per row.
	n := max(opts.NumReturnSequences, 1)
	total := totalLength(width, limit, opts.MaxNewTokens)
	cache, err := lm.NewCache(len(prompts)*n, bucket(total, limit))
	if err != nil {
		return nil, perRow(len(prompts), n, "NumReturnSequences", err)
	}
	defer cache.Free()
	cache.Hooks = opts.Hooks
	g := &sampling{opts: opts, width: width, total: total}
	ids := make([][]int32, 0, len(prompts)*n)
	mask := make([][]int32, 0, len(prompts)*n)
	for _, p := range prompts {
		for j := range n {
			padded, m := leftPad(p, width)
			ids, mask = append(ids, padded), append(mask, m)
			g.seqs = append(g.seqs, newSequence(p))
			g.rngs = append(g.rngs, rand.New(rand.NewPCG(opts.Seed, seedStream+uint64(j))))
		}
	}
	g.outs = make([]Output, len(ids))
	logits, err := lm.Step(cache, ids, mask)
	if err != nil {
		return nil, err
	}
	active := len(ids)
	for produced := 0; active > 0; produced++ {
		rows, err := lastRows(logits, produced)
		if err != nil {
			return nil, err
		}
		next, nextMask, err := g.advance(rows, produced)
		if err != nil {
			return nil, err
		}
		if active = g.active(); active == 0 {
			break
		}
		if logits, err = lm.Step(cache, next, nextMask); err != nil {
			return nil, err
		}
	}
	return g.outs, nil
}

// sampling is the state of the rows sampled generates.
type sampling struct {
	opts         Options
	width, total int // the padded prompts' length, and the most tokens a row may reach
	outs         []Output
	seqs         []*sequence
	rngs         []*rand.Rand
}

// advance picks the next token of every row still generating from its
// logits, records it or the reason the row stops, and returns the ids and
// mask of the next step (a masked placeholder for rows that stopped).
func (g *sampling) advance(rows [][]float32, produced int) (next, nextMask [][]int32, err error) {
	next, nextMask = make([][]int32, len(g.outs)), make([][]int32, len(g.outs))
	for i := range g.outs {
		next[i], nextMask[i] = []int32{0}, []int32{0}
		out := &g.outs[i]
		if out.Reason != "" {
			continue
		}
		id, step, err := pick(rows[i], g.seqs[i], len(out.IDs), g.opts, g.rngs[i])
		if err != nil {
			return nil, nil, err
		}
		if contains(g.opts.StopIDs, id) {
			out.Reason = StopToken
			continue
		}
		out.IDs = append(out.IDs, id)
		if g.opts.TopLogProbs > 0 {
			out.Steps = append(out.Steps, step)
		}
		g.seqs[i].add(id)
		reason := stopping(g.opts.Stopping, out.IDs)
		switch {
		case reason != "":
			out.Reason = reason
		case len(g.outs) == 1 && g.opts.OnToken != nil && !g.opts.OnToken(id):
			out.Reason = StopCallback
		case len(out.IDs) == g.opts.MaxNewTokens:
			out.Reason = StopLength
		case g.width+produced+1 >= g.total:
			out.Reason = StopContext
		}
		if out.Reason == "" {
			next[i], nextMask[i] = []int32{id}, []int32{1}
		}
	}
	return next, nextMask, nil
}

// active counts the rows still generating.
func (g *sampling) active() int {
	n := 0
	for _, o := range g.outs {
		if o.Reason == "" {
			n++
		}
	}
	return n
}

// cropped generates for one prompt by full forward passes over at most the
// last limit tokens (no cache), so generation can run past the context.
func cropped(lm models.CausalLM, prompt []int32, limit int, opts Options) ([]Output, error) {
	seq := newSequence(prompt)
	rng := rand.New(rand.NewPCG(opts.Seed, seedStream))
	var out Output
	for len(out.IDs) < opts.MaxNewTokens {
		// Left-pad to the full context so that one compiled graph serves every step.
		window := seq.ids[max(0, len(seq.ids)-limit):]
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
		rows, err := lastRows(res.Logits, len(out.IDs))
		if err != nil {
			return nil, err
		}
		id, step, err := pick(rows[0], seq, len(out.IDs), opts, rng)
		if err != nil {
			return nil, err
		}
		if contains(opts.StopIDs, id) {
			out.Reason = StopToken
			return []Output{out}, nil
		}
		out.IDs = append(out.IDs, id)
		if opts.TopLogProbs > 0 {
			out.Steps = append(out.Steps, step)
		}
		seq.add(id)
		if reason := stopping(opts.Stopping, out.IDs); reason != "" {
			out.Reason = reason
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

// check rejects empty prompts and options out of range.
func check(prompts [][]int32, opts Options) error {
	if len(prompts) == 0 {
		return fmt.Errorf("generate: no prompts")
	}
	for i, p := range prompts {
		if len(p) == 0 {
			return fmt.Errorf("generate: prompt %d is empty", i)
		}
	}
	if !(opts.Temperature >= 0) || opts.TopK < 0 || !(opts.TopP >= 0 && opts.TopP <= 1) || !(opts.RepetitionPenalty >= 0) ||
		!(opts.MinP >= 0 && opts.MinP <= 1) || !(opts.TypicalP >= 0 && opts.TypicalP <= 1) ||
		math.IsInf(opts.Temperature, 0) || math.IsInf(opts.RepetitionPenalty, 0) {
		return fmt.Errorf("generate: temperature %v, top-k %d, top-p %v, min-p %v, typical-p %v, repetition penalty %v out of range",
			opts.Temperature, opts.TopK, opts.TopP, opts.MinP, opts.TypicalP, opts.RepetitionPenalty)
	}
	if opts.MaxNewTokens < 0 || opts.NumReturnSequences < 0 || opts.NumBeams < 0 || opts.MinNewTokens < 0 {
		return fmt.Errorf("generate: MaxNewTokens %d, NumReturnSequences %d, NumBeams %d, MinNewTokens %d must not be negative",
			opts.MaxNewTokens, opts.NumReturnSequences, opts.NumBeams, opts.MinNewTokens)
	}
	// Rows are checked before a product of them can overflow, or sizes
	// allocated per row (outputs, samplers) exhaust memory: the cache's
	// memory check comes later, once the context length is known.
	per, what := max(opts.NumReturnSequences, 1), "NumReturnSequences"
	if opts.NumBeams > 1 {
		per, what = opts.NumBeams, "NumBeams"
	}
	if per > MaxRows/len(prompts) {
		return fmt.Errorf("generate: %d prompts × %s %d make more than %d rows", len(prompts), what, per, MaxRows)
	}
	if opts.NumBeams > 1 {
		switch {
		case opts.Temperature != 0:
			return fmt.Errorf("generate: beam search is deterministic: Temperature must be 0, not %v", opts.Temperature)
		case opts.NumReturnSequences > opts.NumBeams:
			return fmt.Errorf("generate: %d return sequences from %d beams: at most NumBeams", opts.NumReturnSequences, opts.NumBeams)
		case opts.OnToken != nil || opts.TopLogProbs > 0:
			return fmt.Errorf("generate: beam search has no single token stream: OnToken and TopLogProbs need NumBeams 0 or 1")
		case math.IsNaN(opts.LengthPenalty) || math.IsInf(opts.LengthPenalty, 0):
			return fmt.Errorf("generate: length penalty %v", opts.LengthPenalty)
		}
		switch opts.EarlyStopping {
		case EarlyStopHeuristic, EarlyStopDone, EarlyStopNever:
		default:
			return fmt.Errorf("generate: EarlyStopping %q (want \"\", %q or %q)", opts.EarlyStopping, EarlyStopDone, EarlyStopNever)
		}
	}
	return nil
}

// MaxRows bounds the rows one Run generates (prompts times
// NumReturnSequences, or times NumBeams): far more than any cache holds.
const MaxRows = 1 << 20

// perRow wraps err, the failure to make a cache for prompts × per rows,
// naming the option that multiplied the rows.
func perRow(prompts, per int, option string, err error) error {
	if per <= 1 {
		return err
	}
	return fmt.Errorf("generate: %d prompts × %s %d: %w", prompts, option, per, err)
}

// totalLength is the longest a row may grow: its padded prompt and the new
// tokens, within the context limit (0: none).
func totalLength(width, limit, maxNew int) int {
	if limit > 0 {
		maxNew = min(maxNew, limit) // no overflow below, for any MaxNewTokens
	}
	total := width + maxNew
	if limit > 0 {
		total = min(total, limit)
	}
	return total
}

// leftPad returns p padded on the left to width, and its attention mask.
func leftPad(p []int32, width int) (ids, mask []int32) {
	ids, mask = make([]int32, width), make([]int32, width)
	copy(ids[width-len(p):], p)
	for j := width - len(p); j < width; j++ {
		mask[j] = 1
	}
	return ids, mask
}

// seedStream is the PCG stream of a row's generator: the j-th sequence of
// a prompt draws from (Seed, seedStream+j).
const seedStream = 0x9e3779b97f4a7c15

// sequence is one row's tokens so far, prompt included, and the set of
// them the repetition penalty looks at.
type sequence struct {
	ids  []int32
	seen map[int32]bool
}

func newSequence(prompt []int32) *sequence {
	s := &sequence{ids: slices.Clone(prompt), seen: map[int32]bool{}}
	for _, id := range prompt {
		s.seen[id] = true
	}
	return s
}

func (s *sequence) add(id int32) {
	s.ids = append(s.ids, id)
	s.seen[id] = true
}

// processes reports whether opts changes logits before a token is chosen.
func processes(opts Options) bool {
	return opts.RepetitionPenalty > 0 && opts.RepetitionPenalty != 1 || opts.MinNewTokens > 0 || len(opts.Processors) > 0
}

// process applies, in place, what changes a row's scores before a token is
// chosen: the repetition penalty (Hugging Face's: positive scores divided
// by it, negative ones multiplied), the stop tokens kept impossible until
// MinNewTokens, then opts.Processors in order.
func process(scores []float32, seq *sequence, generated int, opts Options) {
	if p := float32(opts.RepetitionPenalty); p > 0 && p != 1 {
		for id := range seq.seen {
			if id >= 0 && int(id) < len(scores) {
				if scores[id] > 0 {
					scores[id] /= p
				} else {
					scores[id] *= p
				}
			}
		}
	}
	if generated < opts.MinNewTokens {
		for _, id := range opts.StopIDs {
			if id >= 0 && int(id) < len(scores) {
				scores[id] = negInf
			}
		}
	}
	for _, p := range opts.Processors {
		p.Process(seq.ids, scores)
	}
}

// stopping returns why a StoppingCriterion ends a row with these generated
// tokens, or "" when none does.
func stopping(criteria []StoppingCriterion, generated []int32) StopReason {
	for _, c := range criteria {
		if c.ShouldStop(generated) {
			if r, ok := c.(interface{ reason() StopReason }); ok {
				return r.reason()
			}
			return StopCriteria
		}
	}
	return ""
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
// collector lets a process grow by up to the weights' size first). A NaN
// or +Inf logit is an error naming the step (tokens generated so far): the
// model overflowed, whatever the cause (weights, config, adapters), and
// the argmax of NaNs would otherwise be token 0 at every step.
func lastRows(logits *tensors.Tensor, step int) ([][]float32, error) {
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
	for b, row := range rows {
		for id, l := range row {
			if math.IsNaN(float64(l)) || math.IsInf(float64(l), 1) {
				return nil, fmt.Errorf("generate: the model produced %v logits at step %d (row %d, token %d): its weights, config or adapters overflow float32", l, step, b, id)
			}
		}
	}
	return rows, nil
}

// pick chooses the next token from one row's logits: the processors
// (repetition penalty, min-new-tokens, Options.Processors), then the
// sampling filters (or argmax when greedy), and records log-probabilities
// when asked.
func pick(logits []float32, seq *sequence, generated int, opts Options, rng *rand.Rand) (int32, Step, error) {
	var step Step
	if opts.TopLogProbs > 0 {
		step.Top = topLogProbs(logits, opts.TopLogProbs)
	}
	work := logits
	if processes(opts) {
		work = slices.Clone(logits)
		process(work, seq, generated, opts)
		if err := ruledOut(work, generated, opts); err != nil {
			return 0, step, err
		}
	}
	id := Sample(work, opts, rng)
	if opts.TopLogProbs > 0 {
		step.Candidate = Candidate{ID: id, LogProb: logSoftmaxAt(logits, int(id))}
	}
	return id, step, nil
}

// ruledOut returns an error when the processors left no token possible
// in scores (every one -Inf, or NaN): Hugging Face's greedy search then
// picks token 0, a banned one, and its sampling fails on NaN probabilities.
// The error names the processors that say what they are (fmt.Stringer:
// those ReadGenerationConfig makes name their field and file).
func ruledOut(scores []float32, step int, opts Options) error {
	for _, s := range scores {
		if s > negInf {
			return nil
		}
	}
	var by []string
	if step < opts.MinNewTokens && len(opts.StopIDs) > 0 {
		by = append(by, fmt.Sprintf("MinNewTokens %d (the stop ids %v)", opts.MinNewTokens, opts.StopIDs))
	}
	for _, p := range opts.Processors {
		if s, ok := p.(fmt.Stringer); ok {
			by = append(by, s.String())
		}
	}
	if len(by) == 0 {
		by = append(by, "the logits processors")
	}
	return fmt.Errorf("generate: step %d: no token is left to choose from the vocabulary of %d: every one is ruled out by %s",
		step, len(scores), strings.Join(by, ", "))
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

// Sample picks a token from logits as opts says: the argmax when
// opts.Temperature is 0 (ties go to the lowest id), else a draw from
// softmax(logits/Temperature) restricted to the TopK tokens, the TopP
// probability mass, the MinP share of the most likely token's probability
// and the TypicalP mass of typical tokens, in that order.
func Sample(logits []float32, opts Options, rng *rand.Rand) int32 {
	if opts.Temperature == 0 {
		return int32(argmax(logits))
	}
	idx, probs := filtered(logits, opts)
	r := rng.Float64()
	for i, p := range probs {
		r -= p
		if r < 0 {
			return int32(idx[i])
		}
	}
	return int32(idx[len(idx)-1])
}

// filtered returns the tokens sampling with opts may draw, most likely
// first, and their probabilities (impossible tokens, whose logit is -Inf,
// left out; at least one token stays).
func filtered(logits []float32, opts Options) ([]int, []float64) {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if k := opts.TopK; k > 0 && k < len(idx) {
		idx = idx[:k]
	}
	if n := slices.IndexFunc(idx, func(id int) bool { return math.IsInf(float64(logits[id]), -1) }); n > 0 {
		idx = idx[:n]
	}
	maxL := float64(logits[idx[0]])
	probs := make([]float64, len(idx))
	sum := 0.0
	for i, id := range idx {
		probs[i] = math.Exp((float64(logits[id]) - maxL) / opts.Temperature)
		sum += probs[i]
	}
	for i := range probs {
		probs[i] /= sum
	}
	if topP := opts.TopP; topP > 0 && topP < 1 {
		acc := 0.0
		for i, p := range probs {
			acc += p
			if acc >= topP {
				idx, probs = idx[:i+1], renormalized(probs[:i+1])
				break
			}
		}
	}
	idx, probs = minP(idx, probs, opts.MinP)
	return typical(idx, probs, opts.TypicalP)
}
