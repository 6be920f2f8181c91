package generate

import (
	"container/heap"
	"math"
	"slices"

	"github.com/trustformers/trustformers-go/models"
)

// Beam search follows Hugging Face's (transformers 5's _beam_search) step
// for step, so that the same model gives the same hypotheses and scores:
//
//   - every running beam's next-token log-probabilities, after the
//     processors, are added to the beam's score; beams start at 0 for the
//     first and -1e9 for the others, so the first step expands one beam;
//   - of all beams × vocabulary, the best max(2, 1+len(StopIDs))·NumBeams
//     continuations are kept, best first;
//   - a continuation "hits" when its token is a stop id, when it reaches
//     MaxNewTokens (or the context), or when a stopping criterion says so;
//   - the next running beams are the best NumBeams continuations, hits
//     pushed down by -1e9;
//   - hits among the first NumBeams continuations become finished
//     hypotheses, scored by their sum over (generated tokens)^LengthPenalty,
//     and the best NumBeams finished ones are kept;
//   - a prompt is done when its best running beam, scored at its current
//     length (at MaxNewTokens with EarlyStopNever and a positive penalty),
//     cannot beat any finished one, when NumBeams are finished under
//     EarlyStopDone, or when every continuation hit.

// beamPenalty is the score Hugging Face adds to rule a candidate out while
// keeping the arithmetic finite.
const beamPenalty = -1e9

// hypothesis is a beam or a finished sequence: its generated tokens and
// its score.
type hypothesis struct {
	ids   []int32
	score float64
	// finished marks a finished slot that holds a real hypothesis.
	finished bool
	// source is the running beam a new running beam extends.
	source int
}

// candidate is a continuation: beam extended by token, with the summed
// log-probability.
type candidate struct {
	score float64
	beam  int
	token int32
}

// beamState is one prompt's search.
type beamState struct {
	running  []hypothesis
	finished []hypothesis // NumBeams slots, best first
	improve  bool         // Hugging Face's is_early_stop_heuristic_unsatisfied
	done     bool
	allHit   bool
}

func beamSearch(lm models.CausalLM, prompts [][]int32, width, limit int, opts Options) ([]Output, error) {
	beams := opts.NumBeams
	penalty := opts.LengthPenalty
	if penalty == 0 {
		penalty = 1
	}
	total := totalLength(width, limit, opts.MaxNewTokens)
	maxNew := total - width
	rows := len(prompts) * beams
	cache, err := lm.NewCache(rows, bucket(total, limit))
	if err != nil {
		return nil, perRow(len(prompts), beams, "NumBeams", err)
	}
	defer cache.Free()
	cache.Hooks = opts.Hooks

	ids, mask := make([][]int32, rows), make([][]int32, rows)
	states := make([]*beamState, len(prompts))
	for b, p := range prompts {
		for j := range beams {
			ids[b*beams+j], mask[b*beams+j] = leftPad(p, width)
		}
		states[b] = newBeamState(beams)
	}
	logits, err := lm.Step(cache, ids, mask)
	if err != nil {
		return nil, err
	}
	keep := max(2, 1+len(opts.StopIDs)) * beams
	for generated := 0; ; generated++ {
		scores, err := lastRows(logits, generated)
		if err != nil {
			return nil, err
		}
		next := make([][]int32, rows)
		order := make([]int, rows)
		for b, st := range states {
			for j := range beams {
				order[b*beams+j], next[b*beams+j] = b*beams+j, []int32{0}
			}
			if st.done {
				continue
			}
			if err := st.step(prompts[b], scores[b*beams:(b+1)*beams], generated, maxNew, keep, penalty, opts); err != nil {
				return nil, err
			}
			for j, h := range st.running {
				order[b*beams+j] = b*beams + h.source
				next[b*beams+j] = []int32{h.ids[len(h.ids)-1]}
			}
			st.stopCheck(generated+1, maxNew, penalty, opts.EarlyStopping)
		}
		if !slices.ContainsFunc(states, func(st *beamState) bool { return !st.done }) {
			break
		}
		if err := cache.Reorder(order); err != nil {
			return nil, err
		}
		ones := make([][]int32, rows)
		for i := range ones {
			ones[i] = []int32{1}
		}
		if logits, err = lm.Step(cache, next, ones); err != nil {
			return nil, err
		}
	}
	return beamOutputs(states, opts), nil
}

// newBeamState starts one prompt's search: one live beam (the others
// scored out until the first step spreads them) and no finished
// hypotheses.
func newBeamState(beams int) *beamState {
	st := &beamState{improve: true, running: make([]hypothesis, beams), finished: make([]hypothesis, beams)}
	for j := range beams {
		st.finished[j].score = beamPenalty
		if j > 0 {
			st.running[j].score = beamPenalty
		}
	}
	return st
}

// beamOutputs returns the NumReturnSequences best finished hypotheses of
// each prompt, with the reason each ended.
func beamOutputs(states []*beamState, opts Options) []Output {
	n := max(opts.NumReturnSequences, 1)
	outs := make([]Output, 0, len(states)*n)
	for _, st := range states {
		for _, h := range st.finished[:n] {
			out := Output{IDs: h.ids, Score: h.score, Reason: StopLength}
			if len(h.ids) > 0 && contains(opts.StopIDs, h.ids[len(h.ids)-1]) {
				out.IDs, out.Reason = h.ids[:len(h.ids)-1], StopToken
			} else if reason := stopping(opts.Stopping, h.ids); reason != "" {
				out.Reason = reason
			} else if len(h.ids) < opts.MaxNewTokens {
				out.Reason = StopContext
			}
			outs = append(outs, out)
		}
	}
	return outs
}

// step extends one prompt's beams by one token from their logits.
func (st *beamState) step(prompt []int32, logits [][]float32, generated, maxNew, keep int, penalty float64, opts Options) error {
	beams := len(st.running)
	top := &candidates{}
	for j, h := range st.running {
		lp := logSoftmax(logits[j])
		if processes(opts) {
			seq := newSequence(prompt)
			for _, id := range h.ids {
				seq.add(id)
			}
			process(lp, seq, generated, opts)
			if err := ruledOut(lp, generated, opts); err != nil {
				return err
			}
		}
		for v, l := range lp {
			top.offer(candidate{score: float64(l) + h.score, beam: j, token: int32(v)}, keep)
		}
	}
	cands := top.sorted()
	hits := make([]bool, len(cands))
	extended := make([][]int32, len(cands))
	allHit := true
	for k, c := range cands {
		extended[k] = append(slices.Clone(st.running[c.beam].ids), c.token)
		hits[k] = contains(opts.StopIDs, c.token) || generated+1 >= maxNew || stopping(opts.Stopping, extended[k]) != ""
		allHit = allHit && hits[k]
	}
	st.allHit = allHit

	// The next running beams: the best continuations, hits pushed down.
	runScores := make([]float64, len(cands))
	for k, c := range cands {
		runScores[k] = c.score
		if hits[k] {
			runScores[k] += beamPenalty
		}
	}
	running := make([]hypothesis, beams)
	for j, k := range bestIndices(runScores, beams) {
		running[j] = hypothesis{ids: extended[k], score: runScores[k], source: cands[k].beam}
	}

	// Finished hypotheses: hits among the first NumBeams continuations.
	full := !slices.ContainsFunc(st.finished, func(h hypothesis) bool { return !h.finished })
	merged := slices.Clone(st.finished)
	for k, c := range cands {
		h := hypothesis{ids: extended[k], score: c.score / math.Pow(float64(generated+1), penalty)}
		if full && opts.EarlyStopping == EarlyStopDone {
			h.score += beamPenalty
		}
		if !st.improve {
			h.score += beamPenalty
		}
		if k < beams && hits[k] {
			h.finished = true
		} else {
			h.score += beamPenalty
		}
		merged = append(merged, h)
	}
	scores := make([]float64, len(merged))
	for i, h := range merged {
		scores[i] = h.score
	}
	finished := make([]hypothesis, beams)
	for j, i := range bestIndices(scores, beams) {
		finished[j] = merged[i]
	}
	st.running, st.finished = running, finished
	return nil
}

// stopCheck updates the early-stop heuristic after generated tokens and
// decides whether the prompt is done.
func (st *beamState) stopCheck(generated, maxNew int, penalty float64, early EarlyStopping) {
	length := generated
	if early == EarlyStopNever && penalty > 0 {
		length = maxNew
	}
	best := st.running[0].score / math.Pow(float64(length), penalty)
	worst := math.Inf(1)
	for _, h := range st.finished {
		worst = math.Min(worst, h.score)
	}
	can := false
	for _, h := range st.finished {
		w := beamPenalty
		if h.finished {
			w = worst
		}
		can = can || best > w
	}
	st.improve = st.improve && can
	full := !slices.ContainsFunc(st.finished, func(h hypothesis) bool { return !h.finished })
	st.done = !st.improve || full && early == EarlyStopDone || st.allHit
}

// bestIndices returns the indices of the n largest scores, best first;
// equal scores keep their order.
func bestIndices(scores []float64, n int) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpFloat(scores[b], scores[a]) })
	return idx[:min(n, len(idx))]
}

// logSoftmax returns log(softmax(logits)) in float32, as the scores
// processors see in beam search.
func logSoftmax(logits []float32) []float32 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l) - m)
	}
	lse := m + math.Log(sum)
	out := make([]float32, len(logits))
	for i, l := range logits {
		out[i] = float32(float64(l) - lse)
	}
	return out
}

// candidates keeps the best continuations offered: a min-heap on score
// (ties: the later offer, a higher beam or id, is dropped first).
type candidates []candidate

func (c candidates) Len() int { return len(c) }
func (c candidates) Less(i, j int) bool {
	if c[i].score != c[j].score {
		return c[i].score < c[j].score
	}
	return c[i].beam > c[j].beam || c[i].beam == c[j].beam && c[i].token > c[j].token
}
func (c candidates) Swap(i, j int) { c[i], c[j] = c[j], c[i] }
func (c *candidates) Push(x any)   { *c = append(*c, x.(candidate)) }
func (c *candidates) Pop() any {
	old := *c
	x := old[len(old)-1]
	*c = old[:len(old)-1]
	return x
}

// offer adds x when fewer than n are kept or x beats the worst kept.
func (c *candidates) offer(x candidate, n int) {
	if c.Len() < n {
		heap.Push(c, x)
		return
	}
	if worst := (*c)[0]; x.score > worst.score {
		(*c)[0] = x
		heap.Fix(c, 0)
	}
}

// sorted returns the kept candidates best first (ties: lower beam, lower id).
func (c *candidates) sorted() []candidate {
	out := slices.Clone(*c)
	slices.SortFunc(out, func(a, b candidate) int {
		if a.score != b.score {
			return cmpFloat(b.score, a.score)
		}
		if a.beam != b.beam {
			return a.beam - b.beam
		}
		return int(a.token - b.token)
	})
	return out
}
