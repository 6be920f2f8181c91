package modeling

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The hook points every family's network passes its activations through,
// named as TransformerLens names them. Those of a block are "blocks.N."
// followed by the point: "blocks.3.resid_post" is the residual stream
// after block 3.
const (
	// HookEmbed is the embeddings as the first block takes them (token,
	// and where the family has them position and segment, embeddings,
	// scaled or normalized as the family does): [B, T, D].
	HookEmbed = "embed"
	// HookResidPre is a block's input, the residual stream before it.
	HookResidPre = "resid_pre"
	// HookAttnOut is the attention's output after its output projection,
	// before it joins the residual stream (BERT: after its add and norm).
	HookAttnOut = "attn_out"
	// HookAttnPattern is the attention probabilities [B, H, T, keys].
	HookAttnPattern = "attn_pattern"
	// HookMLPOut is the MLP's (or mixture of experts') output before it
	// joins the residual stream.
	HookMLPOut = "mlp_out"
	// HookResidPost is a block's output, the residual stream after it.
	HookResidPost = "resid_post"
	// HookFinalNorm is the final norm's output, which the head reads.
	HookFinalNorm = "final_norm"
)

// BlockHook returns the name of hook point point of block (layer) block:
// BlockHook(3, HookResidPost) is "blocks.3.resid_post".
func BlockHook(block int, point string) string {
	return "blocks." + strconv.Itoa(block) + "." + point
}

// Hooks are what a forward pass does at the network's hook points: return
// activations (Cache, as TransformerLens' run_with_cache) and change them
// (Interventions: activation patching, ablation, steering vectors). They
// are options of the graph the family already builds, so they work on
// every engine and on sharded models; one program is compiled per set of
// hook names and value shapes, and the values and positions are its
// inputs, so a sweep over positions or patch values reuses it.
type Hooks struct {
	// Cache names the hook points whose activations the forward pass
	// returns, in Output.Cache. An activation is taken after the
	// interventions at its point.
	Cache []string
	// Interventions change activations as the network runs, each at its
	// hook point, in order.
	Interventions []Intervention

	// err is why the last graph built with these hooks failed (a hook point
	// the network lacks, a value of the wrong shape), for HookError.
	err error
}

// fail records err as the hooks' failure and panics with it: building the
// graph stops, and HookError returns err in place of the engine's report.
func (h *Hooks) fail(err error) {
	h.err = err
	panic(err)
}

// HookError returns the error of o's hooks when err is a forward pass's
// failure that they caused (a hook point the network lacks, a value of the
// wrong shape), else err: the hooks' own message in place of the
// engine's report of a graph that did not build.
func (o ForwardOptions) HookError(err error) error { return o.Hooks.explain(err) }

// explain is HookError for hooks h.
func (h *Hooks) explain(err error) error {
	if err != nil && h != nil && h.err != nil {
		err, h.err = h.err, nil
	}
	return err
}

// Intervention changes the activation at one hook point: Set replaces it,
// Add adds to it (one of the two), at Positions along the sequence (the
// query positions of an attention pattern).
type Intervention struct {
	// Hook is the hook point's name ("blocks.2.resid_post").
	Hook string
	// Positions are the sequence positions changed (nil: every position).
	Positions []int
	// Set replaces the activation at Positions: the activation's shape
	// (another prompt's cached activation, for patching; zeros to
	// ablate).
	Set *tensors.Tensor
	// Add is added to the activation at Positions: the activation's shape,
	// or a vector of its last axis ([D]: a steering vector).
	Add *tensors.Tensor
}

// key identifies the program these hooks need: the names, what each
// intervention does, and its value's shape.
func (h *Hooks) key() string {
	if h == nil || len(h.Cache) == 0 && len(h.Interventions) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("/hooks:" + strings.Join(h.Cache, ","))
	for _, iv := range h.Interventions {
		kind, value := "add", iv.Add
		if iv.Set != nil {
			kind, value = "set", iv.Set
		}
		if value == nil {
			b.WriteString(";" + iv.Hook + ":none")
			continue
		}
		fmt.Fprintf(&b, ";%s:%s%v", iv.Hook, kind, value.Shape().Dimensions)
	}
	return b.String()
}

// inputs returns, for a forward pass over sequences of t positions, the
// program inputs the interventions take: each one's value, then its
// positions as a float32 mask [t] (1: changed).
func (h *Hooks) inputs(t int) ([]any, error) {
	if h == nil {
		return nil, nil
	}
	var args []any
	for i, iv := range h.Interventions {
		if (iv.Set == nil) == (iv.Add == nil) {
			return nil, fmt.Errorf("hooks: intervention %d at %q: give Set or Add, one of the two", i, iv.Hook)
		}
		mask := make([]float32, t)
		if iv.Positions == nil {
			for p := range mask {
				mask[p] = 1
			}
		}
		for _, p := range iv.Positions {
			if p < 0 || p >= t {
				return nil, fmt.Errorf("hooks: intervention %d at %q: position %d is outside the sequence's %d", i, iv.Hook, p, t)
			}
			mask[p] = 1
		}
		value := iv.Set
		if value == nil {
			value = iv.Add
		}
		args = append(args, value, tensors.FromFlatDataAndDimensions(mask, t))
	}
	return args, nil
}

// hookState is what a graph's hook points do, attached to the graph while
// the network is built.
type hookState struct {
	hooks *Hooks
	// values and masks are the interventions' inputs, by intervention.
	values, masks []*Node
	// block counts the blocks opened so far (Scope.Block); ended is set by
	// EndBlocks, so a network built twice in one graph counts again.
	block int
	ended bool
	// seen are the hook points the network passed, cached their
	// activations (the last one at each name).
	seen   map[string]bool
	cached map[string]*Node
}

// hookKey is the key of the graph state holding a hookState.
type hookKey struct{}

// attachHooks makes the network built next in g apply h, whose
// interventions' inputs (as inputs returned them) are in.
func attachHooks(g *Graph, h *Hooks, in []*Node) {
	st := &hookState{hooks: h, seen: map[string]bool{}, cached: map[string]*Node{}}
	for i := range h.Interventions {
		st.values, st.masks = append(st.values, in[2*i]), append(st.masks, in[2*i+1])
	}
	g.AttachState(hookKey{}, st)
}

// hooks returns the hook state of s's graph, nil when it has none.
func (s Scope) hooks() *hookState {
	if s.state.params == nil {
		return nil
	}
	st, _ := s.g.State(hookKey{}).(*hookState)
	return st
}

// Hook passes x, the activation at hook point point of the block being
// built ("attn_out", "mlp_out", "attn_pattern"; "embed" and "final_norm"
// outside the blocks), through the forward pass's hooks: it applies their
// interventions there and keeps x for the cache. Without hooks it returns
// x. Families call it where the activation is computed; Block and
// EndBlocks call it for the residual stream.
func (s Scope) Hook(point string, x *Node) *Node {
	st := s.hooks()
	if st == nil {
		return x
	}
	name := point
	if point != HookEmbed && point != HookFinalNorm && st.block > 0 {
		name = BlockHook(st.block-1, point)
	}
	return st.apply(name, x)
}

// apply runs the interventions at name on x and caches the result.
func (st *hookState) apply(name string, x *Node) *Node {
	st.seen[name] = true
	axis := 1
	if strings.HasSuffix(name, HookAttnPattern) {
		axis = 2
	}
	for i, iv := range st.hooks.Interventions {
		if iv.Hook != name {
			continue
		}
		var err error
		if x, err = intervene(name, x, st.values[i], st.masks[i], axis, iv.Set != nil); err != nil {
			st.hooks.fail(err)
		}
	}
	if slices.Contains(st.hooks.Cache, name) {
		st.cached[name] = x
	}
	return x
}

// intervene sets (or adds) value into x where mask [T], laid along axis,
// is 1.
func intervene(name string, x, value, mask *Node, axis int, set bool) (*Node, error) {
	dims := x.Shape().Dimensions
	if mask.Shape().Dimensions[0] != dims[axis] {
		return nil, fmt.Errorf("hook %q: positions for a sequence of %d, the activation %v has %d", name, mask.Shape().Dimensions[0], dims, dims[axis])
	}
	at := make([]int, len(dims))
	for i := range at {
		at[i] = 1
	}
	at[axis] = dims[axis]
	m := Reshape(ConvertDType(mask, x.DType()), at...)
	value = ConvertDType(value, x.DType())
	if set {
		if !slices.Equal(value.Shape().Dimensions, dims) {
			return nil, fmt.Errorf("hook %q: Set is %v, the activation is %v", name, value.Shape().Dimensions, dims)
		}
		return Add(x, Mul(m, Sub(value, x))), nil
	}
	switch {
	case value.Rank() == 1 && value.Shape().Dimensions[0] == dims[len(dims)-1]:
		value = Reshape(value, append(slices.Repeat([]int{1}, len(dims)-1), dims[len(dims)-1])...)
	case !slices.Equal(value.Shape().Dimensions, dims):
		return nil, fmt.Errorf("hook %q: Add is %v, want the activation's %v or its last axis [%d]", name, value.Shape().Dimensions, dims, dims[len(dims)-1])
	}
	return Add(x, Mul(m, value)), nil
}

// hookOutputs checks that every hook point h names was passed in g (the
// network is built), and returns the cached activations in h.Cache's
// order.
func hookOutputs(g *Graph, h *Hooks) []*Node {
	st, _ := g.State(hookKey{}).(*hookState)
	if st == nil {
		h.fail(fmt.Errorf("hooks: the network was built without them"))
	}
	names := slices.Clone(h.Cache)
	for _, iv := range h.Interventions {
		names = append(names, iv.Hook)
	}
	for _, n := range names {
		if !st.seen[n] {
			h.fail(fmt.Errorf("hook %q does not exist in this network; its hook points are %s", n, describeHooks(st.seen)))
		}
	}
	outs := make([]*Node, len(h.Cache))
	for i, n := range h.Cache {
		outs[i] = st.cached[n]
	}
	return outs
}

// describeHooks lists hook point names compactly: the points outside the
// blocks, then "blocks.{0…N}.{a, b, …}".
func describeHooks(seen map[string]bool) string {
	var top []string
	points := map[string]bool{}
	last := -1
	for n := range seen {
		rest, ok := strings.CutPrefix(n, "blocks.")
		if !ok {
			top = append(top, n)
			continue
		}
		i, point, _ := strings.Cut(rest, ".")
		if b, err := strconv.Atoi(i); err == nil {
			last = max(last, b)
		}
		points[point] = true
	}
	sort.Strings(top)
	var ps []string
	for p := range points {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	if last >= 0 {
		top = append(top, fmt.Sprintf("blocks.{0…%d}.{%s}", last, strings.Join(ps, ", ")))
	}
	return strings.Join(top, ", ")
}

// blockHook is Block's hook: the residual stream entering a block is the
// previous block's output and this block's input (the first block's, the
// embeddings).
func (st *hookState) blockHook(x *Node) *Node {
	if st.ended {
		st.block, st.ended = 0, false
	}
	if st.block == 0 {
		x = st.apply(HookEmbed, x)
	} else {
		x = st.apply(BlockHook(st.block-1, HookResidPost), x)
	}
	st.block++
	return st.apply(BlockHook(st.block-1, HookResidPre), x)
}

// endHook is EndBlocks' hook: the last block's output.
func (st *hookState) endHook(x *Node) *Node {
	if st.block > 0 {
		x = st.apply(BlockHook(st.block-1, HookResidPost), x)
	}
	st.ended = true
	return x
}

// HookInputs returns the program inputs o's hooks take for sequences of t
// tokens (none without hooks): a forward pass appends them to its own
// inputs, and its graph hands them to AttachHooks.
func (o ForwardOptions) HookInputs(t int) ([]any, error) { return o.Hooks.inputs(t) }

// AttachHooks makes the network built next in in's graph apply o's hooks,
// whose inputs (HookInputs) are in[fixed:]; it returns in[:fixed], the
// forward pass's own inputs.
func (o ForwardOptions) AttachHooks(in []*Node, fixed int) []*Node {
	if o.Hooks.key() != "" {
		attachHooks(in[0].Graph(), o.Hooks, in[fixed:])
	}
	return in[:fixed]
}

// stepHooks returns the inputs c's hooks take in a step of t tokens, and
// how many there are.
func (c *Cache) stepHooks(t int) ([]any, int, error) {
	if c.Hooks == nil {
		return nil, 0, nil
	}
	if len(c.Hooks.Cache) > 0 {
		return nil, 0, fmt.Errorf("hooks: a cache's steps return no activations (Hooks.Cache %v): run Forward with them", c.Hooks.Cache)
	}
	args, err := c.Hooks.inputs(t)
	return args, len(args), err
}

// attachStepHooks makes the network built next in a step's graph apply h
// (nil: nothing), whose inputs are in; a hook point the network lacks
// panics, which the program returns as an error.
func attachStepHooks(h *Hooks, in []*Node) {
	if h.key() == "" {
		return
	}
	attachHooks(in[0].Graph(), h, in)
}

// checkStepHooks checks, once a step's network is built in g, that every
// hook point h names exists.
func checkStepHooks(g *Graph, h *Hooks) {
	if h.key() != "" {
		hookOutputs(g, h)
	}
}

// patternHooked reports whether h caches or changes an attention pattern,
// which only plain attention computes.
func (h *Hooks) patternHooked() bool {
	if h == nil {
		return false
	}
	for _, n := range h.Cache {
		if strings.HasSuffix(n, HookAttnPattern) {
			return true
		}
	}
	for _, iv := range h.Interventions {
		if strings.HasSuffix(iv.Hook, HookAttnPattern) {
			return true
		}
	}
	return false
}
