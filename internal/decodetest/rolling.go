package decodetest

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// CheckRolling decodes a batch of two rows, the second left-padded, of
// 4×window+2 tokens (window: the smallest sliding window of d's layers)
// through the default cache, which keeps window slots for each windowed
// layer, and through a full one (FullCache), and compares the logits of
// every real token with a forward pass over the whole batch. The steps
// cover what a ring must get right: a prefill longer than the window,
// single tokens, steps of 2 and of window+1 tokens that wrap round the
// ring, and the rows swapped by Cache.Reorder midway, as beam search does
// (not on a sharded model, whose cache cannot be reordered). It checks too that the windowed layers'
// caches hold window slots and that Bytes reports less than the full cache.
func CheckRolling(t *testing.T, d *modeling.Decoder) {
	t.Helper()
	window := 0
	for l := range d.Layers {
		if w := d.LayerWindow(l); w > 0 && (window == 0 || w < window) {
			window = w
		}
	}
	if window == 0 {
		t.Fatal("the model has no sliding window")
	}
	ids, mask, positions := leftPadded(4*window+2, 2, max(d.Vocab, 2))
	want, err := d.Forward(modeling.Batch{IDs: ids, AttentionMask: mask, PositionIDs: positions}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantFlat := tensors.MustCopyFlatData[float32](want.Logits)
	steps := []int{window + 2, 1, 2, 1, window + 1}
	for sum := 2*window + 7; sum < len(ids[0]); sum++ {
		steps = append(steps, 1)
	}
	var sizes [2]int64
	for i, full := range []bool{false, true} {
		d.FullCache = full
		c, err := d.NewCache(len(ids), len(ids[0]))
		if err != nil {
			t.Fatal(err)
		}
		sizes[i] = c.Bytes()
		for l := range d.Layers {
			slots := len(ids[0])
			if w := d.LayerWindow(l); !full && w > 0 && w < slots {
				slots = w
			}
			if c.Slots(l) != slots {
				t.Errorf("full cache %v: layer %d (window %d) keeps %d slots, want %d", full, l, d.LayerWindow(l), c.Slots(l), slots)
			}
		}
		diff := stepRolling(t, d, c, ids, mask, steps, wantFlat)
		c.Free()
		t.Logf("full cache %v: %d bytes, max |diff| against the forward pass %.2g", full, sizes[i], diff)
	}
	d.FullCache = false
	if sizes[0] >= sizes[1] {
		t.Errorf("the rolling cache reports %d bytes, the full one %d", sizes[0], sizes[1])
	}
}

// stepRolling feeds ids and mask to c in steps of the given sizes and
// compares each real token's logits with want [B, T, vocab] (flat); the
// rows of an unsharded model's cache are swapped by Reorder after the third
// step. It returns the largest
// difference.
func stepRolling(t *testing.T, d *modeling.Decoder, c *modeling.Cache, ids, mask [][]int32, steps []int, want []float32) float64 {
	t.Helper()
	rows := []int{0, 1} // rows[i]: the row of ids that cache row i holds
	T := len(ids[0])
	worst, at := 0.0, 0
	for n, size := range steps {
		if n == 3 && d.Params().Sharding() == nil { // a sharded cache cannot be reordered
			if err := c.Reorder([]int{1, 0}); err != nil {
				t.Fatal(err)
			}
			rows = []int{rows[1], rows[0]}
		}
		feed, feedMask := make([][]int32, len(rows)), make([][]int32, len(rows))
		for i, r := range rows {
			feed[i], feedMask[i] = ids[r][at:at+size], mask[r][at:at+size]
		}
		logits, err := d.Step(c, feed, feedMask)
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](logits)
		vocab := len(got) / (len(rows) * size)
		for i, r := range rows {
			for j := range size {
				if feedMask[i][j] == 0 {
					continue
				}
				g := got[(i*size+j)*vocab : (i*size+j+1)*vocab]
				w := want[(r*T+at+j)*vocab : (r*T+at+j+1)*vocab]
				for k := range g {
					worst = max(worst, math.Abs(float64(g[k]-w[k])))
				}
			}
		}
		at += size
	}
	if worst > golden.Tolerance {
		t.Errorf("steps %v: max |diff| %.3g against the forward pass, over %g", steps, worst, golden.Tolerance)
	}
	return worst
}

// leftPadded returns rows rows of t token ids below vocab, row i with 2i
// padding tokens on the left, its attention mask, and the positions
// Hugging Face's generate() gives such rows (padding at 1).
func leftPadded(t, rows, vocab int) (ids, mask, positions [][]int32) {
	for i := range rows {
		id, m, p := make([]int32, t), make([]int32, t), make([]int32, t)
		for j := range t {
			id[j] = int32((j*37 + i*11 + 5) % vocab)
			if j < i*2 {
				id[j], p[j] = 0, 1
				continue
			}
			m[j], p[j] = 1, int32(j-i*2)
		}
		ids, mask, positions = append(ids, id), append(mask, m), append(positions, p)
	}
	return ids, mask, positions
}
