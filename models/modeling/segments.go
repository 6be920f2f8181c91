package modeling

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Packed rows. Several examples packed into one row (TRL's packing, its
// padding-free batches) carry position ids that restart at 0 where each
// example starts: [0 1 2 0 1 0 1 2 3]. The decoder reads those restarts as
// boundaries and lets no token attend across one, so each example in a
// packed row gets the logits it would get alone — the rule of Hugging
// Face's flash-attention path, whose sequence starts are the tokens with
// position 0 (prepare_fa_kwargs_from_position_ids), and of TRL's collator
// (cu_seq_lens from position_ids == 0).
//
// Only real tokens start an example: padding (mask 0) keeps the segment it
// is in, so left- or right-padded rows, whose padding positions are
// PadPosition and whose first real token has position 0, are masked as
// before; and unpacked rows (positions 0..T-1, or continuing from an
// offset) are one segment.

// segmentIDs numbers the examples of each row, [B, T] int32: a token's
// segment is the count of real tokens with position 0 up to and including
// it (0 before the first one).
func segmentIDs(positions, mask *Node) *Node {
	starts := Equal(positions, ZerosLike(positions))
	if mask != nil {
		starts = LogicalAnd(starts, NotEqual(mask, ZerosLike(mask)))
	}
	return CumSum(ConvertDType(starts, dtypes.Int32), 1)
}

// sameSegment narrows allowed ([1, 1, Q, K] or [B, 1, Q, K], queries and
// keys the same T tokens) to the pairs of tokens in one segment of
// segments [B, T], returning [B, 1, T, T].
func sameSegment(allowed, segments *Node) *Node {
	b, t := segments.Shape().Dimensions[0], segments.Shape().Dimensions[1]
	q := BroadcastToDims(InsertAxes(segments, 2), b, t, t) // [B, Q, K]: the query's segment
	k := BroadcastToDims(InsertAxes(segments, 1), b, t, t) // [B, Q, K]: the key's segment
	same := InsertAxes(Equal(q, k), 1)
	return LogicalAnd(BroadcastToDims(allowed, b, 1, t, t), same)
}
