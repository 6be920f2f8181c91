// Package decodetest holds what tests of decoders share: stepping a model
// through its KV cache to compare with a full forward pass.
package decodetest

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// StepThrough prefills ids[:, :prefix] into a new cache, then feeds the
// remaining tokens one at a time, and returns the logits of those steps
// [B, T-prefix, vocab]: what a KV-cache decode computes, for comparing with a
// full forward pass in tests.
func StepThrough(tb testing.TB, d *modeling.Decoder, ids [][]int32, prefix int) *tensors.Tensor {
	tb.Helper()
	b, t := len(ids), len(ids[0])
	c, err := d.NewCache(b, t)
	if err != nil {
		tb.Fatal(err)
	}
	cut := func(from, to int) [][]int32 {
		rows := make([][]int32, b)
		for i := range rows {
			rows[i] = ids[i][from:to]
		}
		return rows
	}
	if _, err := d.Step(c, cut(0, prefix), nil); err != nil {
		tb.Fatal(err)
	}
	var steps []*tensors.Tensor
	for pos := prefix; pos < t; pos++ {
		logits, err := d.Step(c, cut(pos, pos+1), nil)
		if err != nil {
			tb.Fatal(err)
		}
		steps = append(steps, logits)
	}
	out, err := ExecOnce(d.Backend, func(xs []*Node) *Node { return Concatenate(xs, 1) }, toAny(steps)...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func toAny(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}
