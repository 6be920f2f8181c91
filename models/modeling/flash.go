package modeling

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// AttentionImpl chooses how a Decoder's forward passes compute attention.
type AttentionImpl int

const (
	// AttentionAuto computes attention plainly below BlockedFrom keys and
	// blockwise from there on (always plainly when the attention
	// probabilities are asked for: blocked attention never forms them).
	AttentionAuto AttentionImpl = iota
	// AttentionPlain forms the whole [B, H, Q, K] score and probability
	// tensors (Attend).
	AttentionPlain
	// AttentionBlocked is memory-efficient (FlashAttention-style) attention:
	// queries and keys in blocks, an online softmax per query row, blocks
	// that the mask hides entirely skipped (see AttendOptions.Block).
	AttentionBlocked
)

// String names the implementation as options and benchmarks spell it.
func (a AttentionImpl) String() string {
	switch a {
	case AttentionPlain:
		return "plain"
	case AttentionBlocked:
		return "blocked"
	}
	return "auto"
}

// BlockedFrom is the key length from which AttentionAuto computes
// attention blockwise: measured in docs/benchmarks.md ("Memory-efficient
// attention"), blocked prefill is as fast as plain or faster on every CPU
// engine from there on, and needs far less memory.
const BlockedFrom = 1024

// DefaultAttentionBlock is the block of queries and keys blocked attention
// uses when none is set: large enough that each block's products keep the
// engines busy, small enough that a block's scores (9 heads × 256² floats:
// 2.4 MB) stay in cache.
const DefaultAttentionBlock = 256

// AttentionSettings is how a Decoder's forward passes (Forward and
// ForwardGraph, so training too) compute attention. The KV-cache step
// always attends plainly.
type AttentionSettings struct {
	// Impl chooses plain or blocked attention (the zero value: Auto).
	Impl AttentionImpl
	// Block is the number of positions per block of blocked attention (0:
	// DefaultAttentionBlock).
	Block int
	// Sparse, when set, keeps only the pattern's blocks (block-sparse
	// attention): computed blockwise over the kept blocks, or, with Impl
	// AttentionPlain, densely under the same mask.
	Sparse *SparsePattern
}

// key names s in the keys of compiled programs.
func (s AttentionSettings) key() string {
	k := fmt.Sprintf("attention/%s/%d", s.Impl, s.Block)
	if s.Sparse != nil {
		k += "/" + s.Sparse.String()
	}
	return k
}

// blockFor returns the block size to attend over keys positions with
// (0: plainly), with or without the probabilities wanted.
func (s AttentionSettings) blockFor(keys int, wantProbs bool) int {
	block := s.Block
	if block <= 0 {
		block = DefaultAttentionBlock
	}
	if s.Sparse != nil {
		block = s.Sparse.Block
	}
	switch {
	case s.Impl == AttentionBlocked:
		return block
	case s.Impl == AttentionPlain || wantProbs:
		return 0
	case s.Sparse != nil || keys >= BlockedFrom:
		return block
	}
	return 0
}

// MaskRule says which keys each query may see by rule rather than as a
// [Q, K] tensor, so that blocked attention builds each block's mask alone
// and skips the blocks the rule hides entirely. Query i and key j sit at
// slot i and j (a forward pass over the whole sequence).
type MaskRule struct {
	// Causal hides keys after the query.
	Causal bool
	// Window, when positive, keeps only the query's last Window slots
	// (key > query - Window, Hugging Face's sliding window).
	Window int
	// KeyValid [B, K] (int32, 1 = a real token), when set, hides padding.
	KeyValid *Node
	// Segments [B, T] (int32), when set, hides the keys of other segments
	// (the examples of a packed row, see segmentIDs); queries and keys are
	// the same T slots.
	Segments *Node
}

// Allowed returns the rule as AllowedKeys' boolean mask [B|1, 1, Q, K].
func (r *MaskRule) Allowed(g *Graph, numQ, numK int) *Node {
	return bothMasks(AllowedKeys(Iota(g, shapes.Make(dtypes.Int32, numQ), 0), numK, r.KeyValid, r.Causal, r.Window),
		r.sameSegment(0, numQ, 0, numK), numQ, numK)
}

// coverage is what a rule or pattern leaves of one (query block, key
// block) pair, known when the graph is built.
type coverage int

const (
	hidden  coverage = iota // every pair masked: the block is skipped
	partial                 // some pairs masked: the block needs a mask
	whole                   // no pair masked by the rule (padding aside)
)

// cover returns what r leaves of queries [q0, q1) over keys [k0, k1).
func (r *MaskRule) cover(q0, q1, k0, k1 int) coverage {
	c := whole
	if r.Causal {
		if k0 > q1-1 {
			return hidden
		}
		if k1-1 > q0 {
			c = partial
		}
	}
	if r.Window > 0 {
		if k1-1 <= q0-r.Window {
			return hidden
		}
		if k0 <= q1-1-r.Window {
			c = partial
		}
	}
	return c
}

// mask returns r's mask of queries [q0, q1) over keys [k0, k1) as
// [B|1, 1, q1-q0, k1-k0], or nil when it hides nothing.
func (r *MaskRule) mask(g *Graph, q0, q1, k0, k1 int, c coverage) *Node {
	var m *Node
	if c == partial {
		qs := AddScalar(Iota(g, shapes.Make(dtypes.Int32, q1-q0), 0), float64(q0))
		ks := AddScalar(Iota(g, shapes.Make(dtypes.Int32, k1-k0), 0), float64(k0))
		m = allowedKeysAt(qs, ks, nil, r.Causal, r.Window)
	}
	if r.KeyValid != nil {
		valid := Slice(r.KeyValid, AxisRange(), AxisRange(k0, k1))
		m = bothMasks(m, InsertAxes(NotEqual(valid, ZerosLike(valid)), 1, 1), q1-q0, k1-k0) // [B, 1, 1, bk]
	}
	return bothMasks(m, r.sameSegment(q0, q1, k0, k1), q1-q0, k1-k0)
}

// sameSegment is the mask [B, 1, q1-q0, k1-k0] of the query and key pairs
// in one segment, nil without Segments.
func (r *MaskRule) sameSegment(q0, q1, k0, k1 int) *Node {
	if r.Segments == nil {
		return nil
	}
	qs := InsertAxes(Slice(r.Segments, AxisRange(), AxisRange(q0, q1)), 1, -1) // [B, 1, bq, 1]
	ks := InsertAxes(Slice(r.Segments, AxisRange(), AxisRange(k0, k1)), 1, 1)  // [B, 1, 1, bk]
	b := qs.Shape().Dimensions[0]
	return Equal(BroadcastToDims(qs, b, 1, q1-q0, k1-k0), BroadcastToDims(ks, b, 1, q1-q0, k1-k0))
}

// bothMasks is the pairs masks a and b both allow, broadcast to
// [B, 1, bq, bk] (a nil mask allows every pair).
func bothMasks(a, b *Node, bq, bk int) *Node {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	n := max(a.Shape().Dimensions[0], b.Shape().Dimensions[0])
	return LogicalAnd(BroadcastToDims(a, n, 1, bq, bk), BroadcastToDims(b, n, 1, bq, bk))
}

// keyBlock is one block of keys a query block attends to: keys [k0, k1)
// and what the mask leaves of it.
type keyBlock struct {
	k0, k1 int
	cover  coverage
}

// attendPlan returns, for each block of block queries (numQ in all), the
// key blocks blocked attention computes: those the rule (nil: every block,
// each partial, masked by allowed) and the sparse pattern (nil: all) keep.
// The decision is static, so the work scales with the blocks kept.
func attendPlan(numQ, numK, block int, rule *MaskRule, sparse *SparsePattern) [][]keyBlock {
	var kept [][]bool
	if sparse != nil {
		kept = sparse.BlockMask(ceilDiv(numQ, block), ceilDiv(numK, block), rule != nil && rule.Causal)
	}
	plan := make([][]keyBlock, ceilDiv(numQ, block))
	for i := range plan {
		q0, q1 := i*block, min((i+1)*block, numQ)
		for j := range ceilDiv(numK, block) {
			k0, k1 := j*block, min((j+1)*block, numK)
			c := partial
			if rule != nil {
				c = rule.cover(q0, q1, k0, k1)
			}
			if c == hidden || (kept != nil && !kept[i][j]) {
				continue
			}
			plan[i] = append(plan[i], keyBlock{k0, k1, c})
		}
	}
	return plan
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// blockedAttend is attend computed blockwise, FlashAttention's way in the
// graph: for each block of queries, a running maximum and sum per row over
// the key blocks of its plan, the partial outputs rescaled as the maximum
// grows; no score tensor larger than [B, H, block, block] exists. Its mask
// is o.Mask's rule when set, else allowed [B|1, 1, Q, K] sliced block by
// block. A query row with no key allowed in any computed block gets zeros
// (plain attention spreads it evenly over every key: padding rows only).
// drop (nil: none) applies dropout to each block's weights.
func blockedAttend(q, k, v, allowed *Node, o AttendOptions, drop func(*Node) *Node) *Node {
	qd, kd := q.Shape().Dimensions, k.Shape().Dimensions
	b, heads, numQ, dim := qd[0], qd[1], qd[2], qd[3]
	kvHeads, numK := kd[1], kd[2]
	block := o.Block
	if o.Sparse != nil {
		block = o.Sparse.Block
	}
	// Grouped-query heads share their key/value head without copying it:
	// query head n·G+g reads key/value head n, as RepeatKV lays them out.
	qg := Reshape(q, b, kvHeads, heads/kvHeads, numQ, dim)
	plan := attendPlan(numQ, numK, block, o.Mask, o.Sparse)
	outs := make([]*Node, len(plan))
	chained := EngineOf(q.Graph().Backend()).ChainedBlocks
	var after *Node
	for i, keys := range plan {
		q0, q1 := i*block, min((i+1)*block, numQ)
		qb := Slice(qg, AxisRange(), AxisRange(), AxisRange(), AxisRange(q0, q1))
		outs[i], after = onlineSoftmax(qb, k, v, q0, q1, keys, allowed, o, drop, after)
		if !chained {
			after = nil
		}
	}
	return Reshape(Concatenate(outs, 3), b, heads, numQ, dim)
}

// onlineSoftmax attends the query block qb [B, KVH, G, bq, d] (queries
// [q0, q1)) to the key blocks keys of k and v. after (nil at first) is a
// zero that depends on the block computed before; each block's queries
// are offset by it, and the zero it returns depends on this block's last
// sum. Without that chain the blocks are independent, and engines that
// schedule by dependencies (the go backend runs the longest paths first;
// XLA's CPU scheduler too, less so) compute every block's scores before
// reducing any: memory as large as the causal half of plain attention's
// (Engine.ChainedBlocks).
func onlineSoftmax(qb, k, v *Node, q0, q1 int, keys []keyBlock, allowed *Node, o AttendOptions, drop func(*Node) *Node, after *Node) (out, next *Node) {
	g := qb.Graph()
	if len(keys) == 0 {
		return ZerosLike(qb), after
	}
	var m, l, acc *Node
	for _, kb := range keys {
		kk := Slice(k, AxisRange(), AxisRange(), AxisRange(kb.k0, kb.k1))
		vv := Slice(v, AxisRange(), AxisRange(), AxisRange(kb.k0, kb.k1))
		qq := qb
		if after != nil {
			qq = Add(qb, after)
		}
		s := o.capped(MulScalar(matmul("bngqd,bnkd->bngqk", qq, kk), o.Scale))
		var mask *Node
		if o.Mask != nil {
			mask = o.Mask.mask(g, q0, q1, kb.k0, kb.k1, kb.cover)
		} else if allowed != nil {
			mask = Slice(allowed, AxisRange(), AxisRange(), AxisRange(q0, q1), AxisRange(kb.k0, kb.k1))
		}
		if mask != nil {
			mask = BroadcastToDims(InsertAxes(mask, 1), s.Shape().Dimensions...)
			s = Where(mask, s, Scalar(g, dtypes.Float32, maskValue))
		}
		// The maximum only keeps exp in range: the result does not depend
		// on it, so no gradient flows through it.
		mNew := StopGradient(ReduceAndKeep(s, ReduceMax, -1))
		if m != nil {
			mNew = StopGradient(Max(m, mNew))
		}
		p := Exp(Sub(s, mNew))
		sum := ReduceAndKeep(p, ReduceSum, -1)
		w := p
		if drop != nil {
			w = drop(p)
		}
		pv := matmul("bngqk,bnkd->bngqd", w, vv)
		if m == nil {
			l, acc = sum, pv
		} else {
			alpha := Exp(Sub(m, mNew))
			l = Add(Mul(l, alpha), sum)
			acc = Add(Mul(acc, alpha), pv)
		}
		m = mNew
		// l ≥ 1 (the row's largest term is exp(0)), so 0·l is exactly 0.
		after = StopGradient(MulScalar(Reshape(Slice(Reshape(l, -1), AxisRange(0, 1))), 0))
	}
	return Div(acc, l), after
}

// check returns an error when s cannot give a forward pass the attention
// probabilities it asks for, or its pattern is unusable.
func (s AttentionSettings) check(wantProbs bool) error {
	if s.Sparse != nil {
		if err := s.Sparse.check(); err != nil {
			return err
		}
	}
	if wantProbs && s.Impl == AttentionBlocked {
		return fmt.Errorf("attention: blocked attention forms no probabilities to return (set AttentionPlain or AttentionAuto to get them)")
	}
	if s.Block < 0 {
		return fmt.Errorf("attention: block %d is negative", s.Block)
	}
	return nil
}
