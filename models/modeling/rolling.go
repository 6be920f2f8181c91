package modeling

import (
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The rolling cache. A layer with a sliding window w never attends to a key
// more than w-1 slots behind its query, so its cache keeps only the last w
// slots: a ring in which slot s (the s-th token written, counting padding)
// lies at s mod w. Global layers keep the whole MaxLen. A step attends to
// the cache as it was before the step plus the step's own keys (one softmax
// over both, attendCached), and only then writes the new keys into the
// ring: a step of several tokens overwrites slots that its first tokens
// still see. A prefill longer than the window thus attends within the
// prompt and leaves the last w keys in the ring.
//
// A ring of MaxLen slots never wraps (the cache refuses tokens past
// MaxLen), so the whole cache is the same code with slot s at s.

// cacheSlots returns how many slots layer keeps in a cache of maxLen tokens:
// its window when that is shorter (and d.FullCache is off), else maxLen.
func (d *Decoder) cacheSlots(layer, maxLen int) int {
	if w := d.LayerWindow(layer); w > 0 && w < maxLen && !d.FullCache {
		return w
	}
	return maxLen
}

// windows returns the distinct windows of the layers (0: global) in layer
// order: a step's graph takes the masks' inputs once per window.
func (d DecoderShape) windows() []int {
	var out []int
	for l := range d.Layers {
		if w := d.LayerWindow(l); !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// ringSlots returns, for each index of a ring of n slots into which written
// slots have gone (slot s at s mod n), the slot it holds: the last s <
// written with s ≡ index (mod n), or -1 while it holds none.
func ringSlots(written, n int) []int32 {
	out := make([]int32, n)
	for r := range n {
		out[r] = int32(max(written-1-(written-1-r+n)%n, -1))
	}
	return out
}

// ringStep is what a step tells its graph about one window's caches (all
// of n slots): slots [n] holds the slot each index held before the step
// (-1: none) and valid [B, n] whether that was a real token; at is where
// the step's first token goes (Len mod n), and from [n] which of the T new
// tokens each index gets (-1: it keeps what it held). wraps says that the
// new tokens do not go in one run from at.
type ringStep struct {
	n                      int
	slots, valid, at, from *tensors.Tensor
	wraps                  bool
}

// newRingStep describes a step of t tokens after c.Len slots for a ring of
// n slots.
func newRingStep(c *Cache, n, t int) ringStep {
	before, after := ringSlots(c.Len, n), ringSlots(c.Len+t, n)
	valid := make([]int32, 0, len(c.valid)*n)
	for _, row := range c.valid {
		for _, s := range before {
			v := int32(0)
			if s >= 0 {
				v = row[s]
			}
			valid = append(valid, v)
		}
	}
	from := make([]int32, n)
	for r, s := range after {
		from[r] = max(s-int32(c.Len), -1)
	}
	return ringStep{n: n, slots: tensors.FromValue(before), valid: tensors.FromFlatDataAndDimensions(valid, len(c.valid), n),
		at: tensors.FromScalar(int32(c.Len % n)), from: tensors.FromValue(from), wraps: c.Len%n+t > n}
}

// ringSteps returns a step's ringStep for each of d.windows(), in that
// order, and whether any of them wraps.
func (d *Decoder) ringSteps(c *Cache, t int) (steps []ringStep, wraps bool) {
	for _, w := range d.windows() {
		s := newRingStep(c, c.slots[d.firstLayer(w)], t)
		steps, wraps = append(steps, s), wraps || s.wraps
	}
	return steps, wraps
}

// firstLayer returns the first layer whose window is w.
func (d DecoderShape) firstLayer(w int) int {
	for l := range d.Layers {
		if d.LayerWindow(l) == w {
			return l
		}
	}
	return -1
}

// ringMasks returns, for the step's queries at qSlots [T], each layer's
// masks over its cache (from the inputs slots, valid of its window) and
// over the step's own keys (newValid [B, T]).
func (d DecoderShape) ringMasks(qSlots, newValid *Node, slots, valid []*Node) (cached, fresh func(layer int) *Node) {
	wins := d.windows()
	cachedBy, freshBy := make([]*Node, len(wins)), make([]*Node, len(wins))
	for i, w := range wins {
		cachedBy[i] = allowedKeysAt(qSlots, slots[i], valid[i], true, w)
		freshBy[i] = allowedKeysAt(qSlots, qSlots, newValid, true, w)
	}
	index := func(layer int) int { return slices.Index(wins, d.LayerWindow(layer)) }
	return func(layer int) *Node { return cachedBy[index(layer)] }, func(layer int) *Node { return freshBy[index(layer)] }
}

// writtenSlot returns a ring's slots [n] and valid [B, n] once one token,
// at slot start with newValid [B, 1], is written at index at.
func writtenSlot(slots, valid, at, start, newValid *Node) (*Node, *Node) {
	n := slots.Shape().Dimensions[0]
	hit := Equal(Iota(slots.Graph(), shapes.Make(dtypes.Int32, n), 0), at)
	dims := valid.Shape().Dimensions
	return Where(hit, BroadcastToDims(start, n), slots),
		Where(BroadcastToDims(InsertAxes(hit, 0), dims...), BroadcastToDims(newValid, dims...), valid)
}

// ringWrite writes fresh [B, KVH, T, d], a step's keys or values, into
// cache [B, KVH, n, d]: in one run from index at, or, when they wrap round
// the ring, index r taking new token from[r] (-1: r keeps its value) through
// a one-hot product, exact in float32.
func ringWrite(cache, fresh, at, from *Node, wraps bool) *Node {
	g := cache.Graph()
	if !wraps {
		zero := ScalarZero(g, dtypes.Int32)
		return DynamicUpdateSlice(cache, fresh, []*Node{zero, zero, at, zero})
	}
	n, t := cache.Shape().Dimensions[2], fresh.Shape().Dimensions[2]
	tokens := Iota(g, shapes.Make(dtypes.Int32, n, t), 1)
	pick := Equal(BroadcastToDims(InsertAxes(from, 1), n, t), tokens) // [n, T]
	taken := Einsum("bhtd,rt->bhrd", fresh, ConvertDType(pick, cache.DType()))
	keep := BroadcastToDims(InsertAxes(LessThan(from, ZerosLike(from)), 0, 0, -1), cache.Shape().Dimensions...)
	return Where(keep, cache, taken)
}

// writeRing copies the keys or values of a step's tokens, fresh
// [B, KVH, T, d], into cache [B, KVH, n, d] on the host: token t goes to
// index (start+t) mod n, and of more than n tokens only the last n stay.
func writeRing(cache, fresh *tensors.Tensor, start int) {
	cd, fd := cache.Shape().Dimensions, fresh.Shape().Dimensions
	rows, n, t, dim := cd[0]*cd[1], cd[2], fd[2], cd[3]
	fresh.ConstFlatData(func(src any) {
		from := src.([]float32)
		cache.MutableFlatData(func(dst any) {
			to := dst.([]float32)
			for r := range rows {
				for i := max(0, t-n); i < t; i++ {
					at := (start + i) % n
					copy(to[(r*n+at)*dim:(r*n+at+1)*dim], from[(r*t+i)*dim:(r*t+i+1)*dim])
				}
			}
		})
	})
}

// Bytes returns the memory the cache's tensors take: the keys and values
// of every layer (a layer with a rolling window holds window slots, a
// global one MaxLen), or a recurrent network's state. The host's
// bookkeeping (a few int32 a token and row) is not counted.
func (c *Cache) Bytes() int64 {
	size := c.kvBytes
	for _, t := range c.State {
		size += t.Shape().ByteSize()
	}
	return size
}

// Slots returns how many positions layer's keys and values keep: its
// window for a layer with a rolling window, else MaxLen (0 for a recurrent
// network's cache).
func (c *Cache) Slots(layer int) int {
	if layer < 0 || layer >= len(c.slots) {
		return 0
	}
	return c.slots[layer]
}
