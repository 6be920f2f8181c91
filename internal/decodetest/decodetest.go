// Package decodetest holds what tests of decoders share: stepping a model
// through its cache to compare with a full forward pass.
package decodetest

import (
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// Stepper is a network that decodes through a cache: a modeling.Decoder (a
// KV cache) or a modeling.Recurrent (a recurrent state).
type Stepper interface {
	NewCache(batch, maxLen int) (*modeling.Cache, error)
	Step(c *modeling.Cache, ids [][]int32, mask [][]int32) (*tensors.Tensor, error)
}

// StepThrough prefills ids[:, :prefix] into a new cache, then feeds the
// remaining tokens one at a time, and returns the logits of those steps
// [B, T-prefix, vocab]: what a cached decode computes, for comparing with a
// full forward pass in tests.
func StepThrough(tb testing.TB, d Stepper, ids [][]int32, prefix int) *tensors.Tensor {
	tb.Helper()
	b, t := len(ids), len(ids[0])
	c, err := d.NewCache(b, t)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Free()
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
	// The steps' logits [B, 1, V] side by side: [B, T-prefix, V].
	vocab := steps[0].Shape().Dimensions[2]
	out := make([]float32, b*len(steps)*vocab)
	for s, logits := range steps {
		flat := tensors.MustCopyFlatData[float32](logits)
		for i := range b {
			copy(out[(i*len(steps)+s)*vocab:(i*len(steps)+s+1)*vocab], flat[i*vocab:(i+1)*vocab])
		}
	}
	return tensors.FromFlatDataAndDimensions(out, b, len(steps), vocab)
}
