package modeling

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	"github.com/trustformers/trustformers-go/xla"
)

// Batch is the input of a forward pass: a rectangular batch of token ids,
// with optional attention mask (1 = real token, 0 = padding), token type
// (segment) ids and position ids, each [batch][sequence].
type Batch struct {
	IDs           [][]int32
	AttentionMask [][]int32
	TokenTypeIDs  [][]int32
	PositionIDs   [][]int32
}

// ForwardOptions selects the extra outputs of a forward pass.
type ForwardOptions struct {
	// HiddenStates returns the input of every layer and the final output
	// (num_layers+1 tensors [B, T, D]), as Hugging Face's output_hidden_states.
	HiddenStates bool
	// Attentions returns every layer's attention probabilities [B, H, T, T].
	Attentions bool
	// RouterLogits returns a mixture of experts' router logits, one
	// [B, T, experts] per sparse layer stacked into [layers, B, T, experts]
	// (Hugging Face's output_router_logits): which experts each token
	// went to. A network without experts cannot return them.
	RouterLogits bool
	// Hooks return activations at the network's hook points
	// (Output.Cache) and change them (patching, steering).
	Hooks *Hooks
}

// dims checks that rows is rectangular and returns its dimensions; name is
// used in errors.
func dims(rows [][]int32, name string) (b, t int, err error) {
	if len(rows) == 0 || len(rows[0]) == 0 {
		return 0, 0, fmt.Errorf("%s: empty batch", name)
	}
	for i, r := range rows {
		if len(r) != len(rows[0]) {
			return 0, 0, fmt.Errorf("%s: row %d has %d tokens, row 0 has %d (pad the batch and pass an attention mask)", name, i, len(r), len(rows[0]))
		}
	}
	return len(rows), len(rows[0]), nil
}

// CheckIDs returns an error naming the first id of rows outside
// [0, vocab): an id past the embedding table would read another row, or
// garbage, without a word (vocab 0: nothing is checked).
func CheckIDs(rows [][]int32, vocab int, name string) error {
	if vocab <= 0 {
		return nil
	}
	for i, r := range rows {
		for j, id := range r {
			if id < 0 || int(id) >= vocab {
				return fmt.Errorf("%s: row %d, position %d: token id %d is outside the model's vocabulary of %d (a tokenizer of another model?)", name, i, j, id, vocab)
			}
		}
	}
	return nil
}

// Matrix checks rows against the batch shape [b, t] and returns it as an
// int32 tensor; a nil rows gives fill everywhere.
func Matrix(rows [][]int32, b, t int, name string, fill int32) (*tensors.Tensor, error) {
	flat := make([]int32, 0, b*t)
	if rows == nil {
		for range b * t {
			flat = append(flat, fill)
		}
		return tensors.FromFlatDataAndDimensions(flat, b, t), nil
	}
	rb, rt, err := dims(rows, name)
	if err != nil {
		return nil, err
	}
	if rb != b || rt != t {
		return nil, fmt.Errorf("%s is [%d, %d], the ids are [%d, %d]", name, rb, rt, b, t)
	}
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return tensors.FromFlatDataAndDimensions(flat, b, t), nil
}

// AttendFunc runs one layer's attention for a decoder family: q is
// [B, H, T, d] and k, v are [B, KVH, T, d] for the current tokens, with
// positions already encoded; it returns [B, H, T, d]. The Decoder supplies it,
// so masking and the KV cache stay outside the family's network.
type AttendFunc func(layer int, q, k, v *Node) *Node

// DecoderGraph is a decoder-only family's network: ids and positions [B, T]
// (int32) in, logits [B, T, vocab] and hidden states out (the input of each
// layer, then the final normalized output: num_layers+1 nodes). It takes its
// weights from s, which is also how it declares them (DeclareDecoder).
type DecoderGraph func(s Scope, ids, positions *Node, attend AttendFunc) (logits *Node, hidden []*Node)

// DecoderShape is what a decoder-only family tells Decoder about its
// network.
type DecoderShape struct {
	// Layers, KVHeads and HeadDim size the KV cache.
	Layers, KVHeads, HeadDim int
	// Window is the sliding attention window (0: none).
	Window int
	// LayerWindows, when set, gives each layer its own sliding window (0:
	// global attention) in place of Window: Gemma's alternating local and
	// global layers, Qwen2's layers past max_window_layers.
	LayerWindows []int
	// Scale multiplies the attention scores (0: 1/√HeadDim; Gemma's
	// query_pre_attn_scalar^-½).
	Scale float64
	// SoftCap bounds the attention scores to ±SoftCap with
	// SoftCap·tanh(score/SoftCap), before the mask (Gemma 2's
	// attn_logit_softcapping; 0: none).
	SoftCap float64
	// MaxPositions bounds positions (learned position tables); 0: unbounded.
	MaxPositions int
	// PadPosition is the position given to padding tokens.
	PadPosition int32
	// Vocab is the vocabulary size: every id must be in [0, Vocab) (0: not
	// checked).
	Vocab int
	// AttentionDropout is the dropout rate on the attention probabilities
	// in training graphs (the config's attn_pdrop, attention_dropout).
	AttentionDropout float64
}

// Decoder runs a decoder-only family: full forward passes, and incremental
// steps over a preallocated KV cache that give the same logits.
type Decoder struct {
	DecoderShape
	// Backend is the engine the network runs on.
	Backend compute.Backend
	Graph   DecoderGraph
	// Attention is how forward passes compute attention: plain, blocked
	// (memory-efficient) or block-sparse; by default blocked from
	// BlockedFrom tokens on.
	Attention AttentionSettings
	// FullCache makes every layer's cache MaxLen slots long, the sliding
	// window then being only a mask. Off (the default), a layer whose window
	// is shorter than the cache keeps a rolling cache of window slots (see
	// NewCache), with the same logits.
	FullCache bool
	run       *Runner
}

// NewDecoder runs graph, whose weights are params, on backend.
func NewDecoder(params *Params, backend compute.Backend, shape DecoderShape, graph DecoderGraph) *Decoder {
	return &Decoder{DecoderShape: shape, Backend: backend, Graph: graph, run: NewRunner(params, backend)}
}

// Params returns the network's weights.
func (d *Decoder) Params() *Params { return d.run.Params() }

// ContextLength returns the most tokens a sequence may hold (0: no limit).
func (d *Decoder) ContextLength() int { return d.MaxPositions }

// LayerWindow returns layer's sliding window (0: global attention).
func (d DecoderShape) LayerWindow(layer int) int {
	if d.LayerWindows != nil {
		return d.LayerWindows[layer]
	}
	return d.Window
}

// attention returns the options of every layer's attention, with dropout
// at rate on its probabilities in training graphs.
func (d DecoderShape) attention(rate float64) AttendOptions {
	scale := d.Scale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(d.HeadDim))
	}
	return AttendOptions{Scale: scale, SoftCap: d.SoftCap, Dropout: rate}
}

// masks returns each layer's mask, built by build for its window: one mask
// per distinct window, built when a layer first asks for it.
func (d DecoderShape) masks(build func(window int) *Node) func(layer int) *Node {
	byWindow := map[int]*Node{}
	return func(layer int) *Node {
		w := d.LayerWindow(layer)
		if byWindow[w] == nil {
			byWindow[w] = build(w)
		}
		return byWindow[w]
	}
}

// Forward runs the whole network over b. Positions default to 0..T-1 for
// every row (Hugging Face's default); pass PositionIDs for left-padded rows,
// or for packed rows, whose positions restart at 0 where each example
// starts (no example attends to another; see segments.go).
func (d *Decoder) Forward(b Batch, opts ForwardOptions) (*Output, error) {
	ids, mask, err := b.Inputs(d.Vocab, d.MaxPositions)
	if err != nil {
		return nil, err
	}
	B, T := len(b.IDs), len(b.IDs[0])
	positions := b.PositionIDs
	if positions == nil {
		positions = make([][]int32, B)
		for i := range positions {
			positions[i] = make([]int32, T)
			for j := range T {
				positions[i][j] = int32(j)
			}
		}
	}
	pos, err := Matrix(positions, B, T, "position ids", 0)
	if err != nil {
		return nil, err
	}
	hooks, err := opts.HookInputs(T)
	if err != nil {
		return nil, err
	}
	wantProbs := opts.Attentions || opts.Hooks.patternHooked()
	if err := d.Attention.check(wantProbs); err != nil {
		return nil, err
	}
	e, err := d.run.Program(opts.Key()+"/"+d.Attention.key(), func(in []*Node) []*Node {
		in = opts.AttachHooks(in, 3)
		logits, hidden, probs := d.forwardGraph(NewScope(in[0].Graph(), d.Params(), true), in[0], in[1], in[2], wantProbs)
		return opts.Outputs([]*Node{logits}, hidden, probs)
	})
	if err != nil {
		return nil, err
	}
	res, err := e.Call(append([]any{ids, pos, mask}, hooks...)...)
	if err != nil {
		return nil, opts.HookError(err)
	}
	head, out := opts.Split(res, d.Layers)
	out.Logits = head[0]
	return &out, nil
}

// ForwardGraph builds the whole network inside a graph: ids and positions
// [B, T] (int32) and mask [B, T] (int32, 1 = real token; nil: all real) in,
// logits, hidden states and attention probabilities out (nil for layers
// that attend blockwise, see Attention). Trainers use it. A real token at
// position 0 starts a new example: no token attends across that boundary
// (packed rows, see segments.go).
func (d *Decoder) ForwardGraph(ids, positions, mask *Node) (logits *Node, hidden, probs []*Node) {
	return d.forwardGraph(NewScope(ids.Graph(), d.Params(), false), ids, positions, mask, false)
}

// forwardGraph is ForwardGraph in scope s; wantProbs keeps attention plain
// under AttentionAuto, so that the probabilities exist.
func (d *Decoder) forwardGraph(s Scope, ids, positions, mask *Node, wantProbs bool) (logits *Node, hidden, probs []*Node) {
	t := ids.Shape().Dimensions[1]
	slots := Iota(ids.Graph(), shapes.Make(dtypes.Int32, t), 0)
	segments := segmentIDs(positions, mask) // packed rows: see segments.go
	allowed := d.masks(func(window int) *Node { return sameSegment(AllowedKeys(slots, t, mask, true, window), segments) })
	block := d.Attention.blockFor(t, wantProbs)
	attend := func(layer int, q, k, v *Node) *Node {
		o := d.attention(d.AttentionDropout)
		o.Block, o.Sparse = block, d.Attention.Sparse
		o.Mask = &MaskRule{Causal: true, Window: d.LayerWindow(layer), KeyValid: mask, Segments: segments}
		o.Pattern = func(p *Node) *Node { return s.Hook(HookAttnPattern, p) }
		var a *Node
		if block == 0 {
			a = allowed(layer) // built once per window, shared by the layers
		}
		out, p := s.AttendWith(q, k, v, a, o)
		probs = append(probs, p)
		return out
	}
	logits, hidden = d.Graph(s, ids, positions, attend)
	return logits, hidden, probs
}

// Cache is a preallocated key/value cache for one batch: per layer, keys and
// values [B, KVH, slots, d], zeros until written, where slots is MaxLen, or
// the layer's sliding window when that is shorter: such a layer keeps the
// last window slots in a ring (slot s at s mod window), so its memory stops
// growing past the window (see Slots and Bytes). Where it lives depends on
// the engine (see Decoder.Step): on XLA engines, and on any sharded model,
// it stays on the device(s) and each step's graph writes the new keys and
// values into it; on the CPU engines without whole-program compilation (go,
// ONNX Runtime) it lies in memory the backend shares with the host, each
// step only reads it and returns the new keys and values, which Step writes
// into their slots on the host (ONNX Runtime cannot update a graph input in
// place, and a DynamicUpdateSlice there costs several passes over the whole
// cache: at batch 8 it took most of a decoding step).
//
// A recurrent family's cache (see Recurrent) holds no keys or values but
// the state its network carries from token to token, in State.
type Cache struct {
	// K and V are the cache's tensors on one device.
	K, V []*tensors.Tensor
	// State is a recurrent network's state after the tokens so far, each
	// tensor's first axis the batch (Mamba: per layer, the convolution's
	// last inputs and the state-space model's state).
	State []*tensors.Tensor
	// sharded holds keys then values, laid out over the mesh, once a step
	// of a sharded model has written them.
	sharded []*dtensor.Tensor
	// Hooks apply to every step over the cache (a steering vector added
	// through a whole generation); positions count along each step's
	// tokens. Steps cache nothing: Hooks.Cache must be empty.
	Hooks  *Hooks
	MaxLen int
	// Len is the number of slots written so far.
	Len int
	// slots[layer] is how many slots the layer's keys and values keep.
	slots []int
	// kvBytes is the memory of the keys and values.
	kvBytes int64
	// valid[b][slot] is 1 where a real token was written (slot counts
	// every token written, also those a ring has dropped).
	valid [][]int32
	// next[b] is the position the next real token of row b gets.
	next []int32
	// fed[b] and fedMask[b] are the ids and mask row b was given so far.
	fed, fedMask [][]int32
}

// Free releases the cache's memory now (ONNX Runtime's is C memory that
// Go's collector neither sees nor hurries to finalize). The cache must not
// be used afterwards.
func (c *Cache) Free() {
	for _, t := range slices.Concat(c.K, c.V, c.State) {
		_ = t.FinalizeAll()
	}
	for _, dt := range c.sharded {
		_ = dt.FinalizeAll()
	}
	c.K, c.V, c.State, c.sharded = nil, nil, nil, nil
}

// Reorder makes row i of the cache a copy of what row rows[i] held (a row
// may be taken several times), as beam search needs when beams are kept,
// dropped or split: len(rows) must be the cache's batch. The keys and values
// are gathered on the host. The cache of a sharded model cannot be
// reordered.
func (c *Cache) Reorder(rows []int) error {
	batch := len(c.valid)
	if len(rows) != batch {
		return fmt.Errorf("cache: reorder gives %d rows for a cache of %d", len(rows), batch)
	}
	for _, r := range rows {
		if r < 0 || r >= batch {
			return fmt.Errorf("cache: reorder takes row %d of a cache of %d", r, batch)
		}
	}
	if c.sharded != nil {
		return fmt.Errorf("cache: the cache of a sharded model cannot be reordered")
	}
	if c.K == nil && c.State == nil {
		return fmt.Errorf("cache already freed")
	}
	for _, ts := range [][]*tensors.Tensor{c.K, c.V, c.State} {
		for i, t := range ts {
			out, err := reorderRows(t, rows)
			if err != nil {
				return fmt.Errorf("cache: reorder: %w", err)
			}
			_ = t.FinalizeAll()
			ts[i] = out
		}
	}
	valid, next := make([][]int32, batch), make([]int32, batch)
	fed, fedMask := make([][]int32, batch), make([][]int32, batch)
	for to, from := range rows {
		valid[to], next[to] = slices.Clone(c.valid[from]), c.next[from]
		fed[to], fedMask[to] = slices.Clone(c.fed[from]), slices.Clone(c.fedMask[from])
	}
	c.valid, c.next, c.fed, c.fedMask = valid, next, fed, fedMask
	return nil
}

// reorderRows returns the float32 tensor t [batch, ...] with row i a copy
// of t's row rows[i].
func reorderRows(t *tensors.Tensor, rows []int) (*tensors.Tensor, error) {
	dims := t.Shape().Dimensions
	stride := t.Shape().Size() / dims[0]
	out := make([]float32, len(rows)*stride)
	err := t.ConstFlatData(func(flat any) {
		in := flat.([]float32)
		for to, from := range rows {
			copy(out[to*stride:(to+1)*stride], in[from*stride:(from+1)*stride])
		}
	})
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(out, dims...), nil
}

// NewCache returns an empty cache for batch rows and up to maxLen tokens.
// A layer whose sliding window is shorter than maxLen gets a rolling cache
// of window slots unless d.FullCache is set; the others keep maxLen.
func (d *Decoder) NewCache(batch, maxLen int) (*Cache, error) {
	if batch <= 0 || maxLen <= 0 {
		return nil, fmt.Errorf("cache: batch %d and length %d must be positive", batch, maxLen)
	}
	if d.MaxPositions > 0 && maxLen > d.MaxPositions {
		return nil, fmt.Errorf("cache of %d tokens is longer than the model's %d positions", maxLen, d.MaxPositions)
	}
	c := emptyCache(batch, maxLen)
	c.slots = make([]int, d.Layers)
	var need float64
	for l := range c.slots {
		c.slots[l] = d.cacheSlots(l, maxLen)
		need += cacheBytes(2, batch, d.KVHeads, c.slots[l], d.HeadDim)
	}
	// A step holds the cache and, on XLA engines, its updated copy: twice
	// the cache must fit in what the process may still take.
	if have := xla.MemoryLeft(); have > 0 && 2*need > have {
		return nil, fmt.Errorf("cache: %d rows of %d tokens need %.1f GB of keys and values, and a step twice that; this process may take %.1f GB more (ask for fewer new tokens)",
			batch, maxLen, need/1e9, have/1e9)
	}
	c.kvBytes = int64(need)
	for i := range c.valid {
		c.valid[i] = make([]int32, maxLen)
	}
	all := make([]*tensors.Tensor, 2*d.Layers)
	for i := range all {
		shape := shapes.Make(dtypes.Float32, batch, d.KVHeads, c.slots[i%d.Layers], d.HeadDim)
		var t *tensors.Tensor
		var err error
		if d.Params().Sharding() != nil {
			t = tensors.FromShape(shape) // laid out over the mesh by the first step
		} else if t, err = tensors.FromShapeForBackend(d.Backend, 0, shape); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		all[i] = t
	}
	c.K, c.V = all[:d.Layers], all[d.Layers:]
	return c, nil
}

// cacheBytes returns the bytes of n float32 tensors of the given
// dimensions, as a float64 so that no size can overflow into a small or
// negative number.
func cacheBytes(n int, dims ...int) float64 {
	size := 4 * float64(n)
	for _, d := range dims {
		size *= float64(d)
	}
	return size
}

// cacheInGraph reports whether steps write the cache inside their graph,
// keeping it on the device: on XLA engines (which compile the whole step,
// so that the dynamic-update-slice costs a copy on the device, never a
// transfer to or from the host) and on a sharded model, whose cache lies
// on every device of the mesh.
func (d *Decoder) cacheInGraph() bool {
	return d.Params().Sharding() != nil || xla.CompilesWholePrograms(d.Backend)
}

// Step feeds ids [B, T] (with an optional attention mask, 1 = real token) to
// the network after the tokens already in c, writes their keys and values
// into the cache and returns the logits [B, T, vocab]. Real tokens of a row
// get consecutive positions; padding gets PadPosition and is never attended
// to. One compiled graph serves every step with the same T.
func (d *Decoder) Step(c *Cache, ids [][]int32, mask [][]int32) (*tensors.Tensor, error) {
	B, T, err := dims(ids, "input ids")
	if err != nil {
		return nil, err
	}
	if B != len(c.valid) {
		return nil, fmt.Errorf("cache holds %d rows, the step has %d", len(c.valid), B)
	}
	if c.Len+T > c.MaxLen {
		return nil, fmt.Errorf("%d cached + %d new tokens exceed the cache's %d", c.Len, T, c.MaxLen)
	}
	if c.K == nil && c.sharded == nil {
		return nil, fmt.Errorf("cache already freed")
	}
	if err := CheckIDs(ids, d.Vocab, "input ids"); err != nil {
		return nil, err
	}
	idsT, err := Matrix(ids, B, T, "input ids", 0)
	if err != nil {
		return nil, err
	}
	if _, err := Matrix(mask, B, T, "attention mask", 1); err != nil {
		return nil, err
	}
	// What each window's caches held before this step, and the new tokens'
	// own mask and positions.
	rings, wraps := d.ringSteps(c, T)
	newValid := make([]int32, 0, B*T)
	positions := make([]int32, 0, B*T)
	for b := range B {
		next := c.next[b]
		for t := range T {
			if mask == nil || mask[b][t] != 0 {
				newValid = append(newValid, 1)
				positions = append(positions, next)
				next++
			} else {
				newValid = append(newValid, 0)
				positions = append(positions, d.PadPosition)
			}
		}
	}
	if d.MaxPositions > 0 {
		for _, p := range positions {
			if int(p) >= d.MaxPositions {
				return nil, fmt.Errorf("position %d is beyond the model's %d positions", p, d.MaxPositions)
			}
		}
	}
	in := stepInputs{ids: idsT, positions: tensors.FromFlatDataAndDimensions(positions, B, T),
		start: tensors.FromScalar(int32(c.Len)), newValid: tensors.FromFlatDataAndDimensions(newValid, B, T), rings: rings}
	var logits *tensors.Tensor
	if d.cacheInGraph() {
		logits, err = d.stepInGraph(c, in, wraps)
	} else {
		logits, err = d.stepOnHost(c, in)
	}
	if err != nil {
		return nil, err
	}
	for b := range B {
		for t, v := range newValid[b*T : (b+1)*T] {
			c.valid[b][c.Len+t] = v
			c.next[b] += v
		}
	}
	c.Len += T
	c.record(ids, newValid)
	return logits, nil
}

// stepInputs are the inputs of a step's graph besides the caches: ids,
// positions and newValid (the new tokens' mask) [B, T], start (the slot of
// the first new token) and, per window, what its caches hold.
type stepInputs struct {
	ids, positions, start, newValid *tensors.Tensor
	rings                           []ringStep
}

// args lists the inputs in the order stepGraph reads them; inGraph adds what
// writing the caches in the graph takes.
func (in stepInputs) args(inGraph bool) []any {
	args := []any{in.ids, in.positions, in.start, in.newValid}
	for _, r := range in.rings {
		args = append(args, r.slots, r.valid)
		if inGraph {
			args = append(args, r.at, r.from)
		}
	}
	return args
}

// stepGraph builds a step over the inputs that stepInputs.args lists
// followed by the caches (keys, then values): each layer attends to its
// cache as it was and to the new keys, and write (nil: none) returns its
// cache with the new keys or values written in from index at, or index r
// taking new token from[r] (ringWrite); the last nh inputs are the
// inputs of hooks, which apply to the step. It returns the logits, then the
// new keys and values (write nil) or the written caches.
func (d *Decoder) stepGraph(in []*Node, write func(cache, fresh, at, from *Node) *Node, hooks *Hooks, nh int) []*Node {
	attachStepHooks(hooks, in[len(in)-nh:])
	in = in[:len(in)-nh]
	ids, positions, start, newValid := in[0], in[1], in[2], in[3]
	per := 2
	if write != nil {
		per = 4
	}
	wins := d.windows()
	slots, valid := make([]*Node, len(wins)), make([]*Node, len(wins))
	at, from := make([]*Node, len(wins)), make([]*Node, len(wins))
	for i := range wins {
		slots[i], valid[i] = in[4+per*i], in[5+per*i]
		if write != nil {
			at[i], from[i] = in[6+per*i], in[7+per*i]
		}
	}
	caches := in[4+per*len(wins):]
	g := ids.Graph()
	t := ids.Shape().Dimensions[1]
	qSlots := Add(Iota(g, shapes.Make(dtypes.Int32, t), 0), start)
	// One token is written first and attended to in the cache: the slot it
	// overwrites in a ring is one past its window, and XLA updates the cache
	// in place (reading the old cache and then writing it costs a copy of
	// the cache a step). More tokens would overwrite keys the first of them
	// still see: they are attended to beside the cache, then written.
	writeFirst := write != nil && t == 1
	if writeFirst {
		for i := range wins {
			slots[i], valid[i] = writtenSlot(slots[i], valid[i], at[i], start, newValid)
		}
	}
	cached, fresh := d.ringMasks(qSlots, newValid, slots, valid)
	out := make([]*Node, 2*d.Layers)
	attend := func(layer int, q, k, v *Node) *Node {
		kc, vc := caches[layer], caches[d.Layers+layer]
		out[layer], out[d.Layers+layer] = k, v
		if write != nil {
			r := slices.Index(wins, d.LayerWindow(layer))
			out[layer], out[d.Layers+layer] = write(kc, k, at[r], from[r]), write(vc, v, at[r], from[r])
		}
		if writeFirst {
			res, _ := attend(q, out[layer], out[d.Layers+layer], cached(layer), d.attention(0), nil)
			return res
		}
		return attendCached(q, kc, vc, cached(layer), k, v, fresh(layer), d.attention(0))
	}
	logits, _ := d.Graph(NewScope(g, d.Params(), true), ids, positions, attend)
	checkStepHooks(g, hooks)
	return append([]*Node{logits}, out...)
}

// stepOnHost runs a step whose graph reads the cache and returns the new
// keys and values, and writes those into the cache on the host.
func (d *Decoder) stepOnHost(c *Cache, in stepInputs) (*tensors.Tensor, error) {
	hooks, nh, err := c.stepHooks(in.ids.Shape().Dimensions[1])
	if err != nil {
		return nil, err
	}
	e, err := d.run.Program("step"+c.Hooks.key(), func(in []*Node) []*Node { return d.stepGraph(in, nil, c.Hooks, nh) })
	if err != nil {
		return nil, err
	}
	args := in.args(false)
	caches := slices.Concat(c.K, c.V) // the step's inputs and outputs list keys, then values
	for _, t := range caches {
		args = append(args, t)
	}
	res, err := e.Call(append(args, hooks...)...)
	if err != nil {
		return nil, c.Hooks.explain(err)
	}
	for i, fresh := range res[1:] {
		writeRing(caches[i], fresh, c.Len)
		fresh.FinalizeAll()
	}
	return res[0], nil
}

// stepInGraph runs a step whose graph writes the new keys and values into
// the cache and returns the updated cache, which replaces the old one
// (donated to the step on one device, so memory holds one cache). wraps
// says that some ring's new tokens wrap round its end, which a
// dynamic-update-slice cannot write: that step is another program.
func (d *Decoder) stepInGraph(c *Cache, in stepInputs, wraps bool) (*tensors.Tensor, error) {
	hooks, nh, err := c.stepHooks(in.ids.Shape().Dimensions[1])
	if err != nil {
		return nil, err
	}
	key := "step/in-graph"
	if wraps {
		key += "/wraps"
	}
	e, err := d.run.Program(key+c.Hooks.key(), func(nodes []*Node) []*Node {
		return d.stepGraph(nodes, func(cache, fresh, at, from *Node) *Node { return ringWrite(cache, fresh, at, from, wraps) }, c.Hooks, nh)
	})
	if err != nil {
		return nil, err
	}
	args := in.args(true)
	if e.NumDevices() > 1 {
		if c.sharded == nil {
			for _, t := range slices.Concat(c.K, c.V) {
				args = append(args, t)
			}
		} else {
			for _, dt := range c.sharded {
				args = append(args, dt)
			}
		}
		res, err := e.CallDistributed(append(args, hooks...)...)
		if err != nil {
			return nil, c.Hooks.explain(err)
		}
		for _, t := range slices.Concat(c.K, c.V) {
			_ = t.FinalizeAll()
		}
		c.K, c.V, c.sharded = nil, nil, res[1:]
		return gather(res[0])
	}
	for _, t := range slices.Concat(c.K, c.V) {
		donated, err := DonateTensorBuffer(t, d.Backend, 0)
		if err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		args = append(args, donated)
	}
	res, err := e.Call(append(args, hooks...)...)
	if err != nil {
		return nil, c.Hooks.explain(err)
	}
	c.K, c.V = res[1:1+d.Layers], res[1+d.Layers:]
	return res[0], nil
}
