// Package modeling holds what the model families share: their weights as
// GoMLX variables named as the checkpoint names them (Params), the building
// blocks of transformer networks (norms, projections, attention with padding
// masks, sliding windows and grouped-query heads, rotary embeddings), the
// shared forward and KV-cache plumbing of decoder-only families (Decoder),
// and the inputs and outputs of a forward pass.
//
// A family's network file calls these blocks explicitly, so it reads like
// Hugging Face's modeling file for that family; cache strategies reach the
// network only through the AttendFunc it is handed.
package modeling

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Params are a model's weights as variables of a GoMLX model.Store, one per
// checkpoint tensor and under the checkpoint's name ("h.0.attn.c_attn.weight"
// is the variable /h/0/attn/c_attn/weight). Variables stay graph parameters,
// never constants, so one compiled graph serves any weights and trainers can
// update them.
type Params struct {
	Store *model.Store
	vars  map[string]*model.Variable
	// transposed names the 2-D weights kept as the transpose of their
	// checkpoint layout (see Spec.Transpose); Weights transposes them back.
	transposed map[string]bool
	// transforms replace a weight's node in every graph, applied in the
	// order they were set (see SetTransform).
	transforms map[string][]Transform
	// dims are the shapes the network sees where a transform changes the
	// stored one (see SetDims).
	dims map[string][]int
	// generation counts changes to which weights exist and how the network
	// sees them (see Generation).
	generation uint64
	// blocks holds the weights SplitRows laid out in blocks of rows, in
	// order, in place of their entry in vars.
	blocks map[string][]*model.Variable
	// roles are the weights' roles as their family declared them (Spec.Role).
	roles map[string]Role
	// follows maps the Store path of a variable laid out as a weight (an
	// optimizer moment) to that weight's name (see Follow).
	follows map[string]string
	// sharding is how the variables are laid out (nil: one device).
	sharding *Sharding
	// rng is the random stream dropout draws from (see SeedDropout).
	rng *model.Variable
}

// Transform computes the weight a network uses from the stored one (or from
// what the transform set before it gives), inside a graph. LoRA adapters (the stored weight plus a low-rank update) and
// quantized weights (dequantization) wrap a family's layers this way, from
// outside the family's network file.
type Transform func(g *graph.Graph, stored *graph.Node) *graph.Node

// NewParams returns empty Params with a fresh Store.
func NewParams() *Params {
	return &Params{Store: model.NewStore(), vars: map[string]*model.Variable{}, transposed: map[string]bool{},
		transforms: map[string][]Transform{}, dims: map[string][]int{}, blocks: map[string][]*model.Variable{},
		roles: map[string]Role{}, follows: map[string]string{}}
}

// DropoutRNG is the Store path of the random stream dropout draws from.
const DropoutRNG = "/dropout/rng"

// SeedDropout sets the random stream that dropout (Scope.Dropout) draws
// from in training graphs to the start of seed's; each training step's
// graph advances it. A trainer calls it once, and saves and restores the
// stream with its checkpoints (DropoutState, SetDropoutState).
func (p *Params) SeedDropout(seed uint64) error {
	state, err := graph.RNGStateFromSeed(int64(seed))
	if err != nil {
		return err
	}
	if p.rng == nil {
		v, err := p.Store.CreateVariable(DropoutRNG, state)
		if err != nil {
			return err
		}
		p.rng = v.SetTrainable(false)
		p.generation++
		return nil
	}
	return p.rng.SetValue(state)
}

// DropoutState returns the dropout stream's state (nil before SeedDropout).
func (p *Params) DropoutState() ([]uint64, error) {
	if p.rng == nil {
		return nil, nil
	}
	v, err := p.rng.Value()
	if err != nil {
		return nil, err
	}
	return tensors.MustCopyFlatData[uint64](v), nil
}

// SetDropoutState restores a state DropoutState returned.
func (p *Params) SetDropoutState(state []uint64) error {
	if p.rng == nil {
		return fmt.Errorf("modeling: dropout stream not seeded (SeedDropout)")
	}
	if want := graph.RNGStateShape.Size(); len(state) != want {
		return fmt.Errorf("modeling: a dropout stream state has %d values, got %d", want, len(state))
	}
	return p.rng.SetValue(tensors.FromFlatDataAndDimensions(slices.Clone(state), graph.RNGStateShape.Dimensions...))
}

// MarkTraining marks g as a training graph: dropout is active in it.
func (p *Params) MarkTraining(g *graph.Graph) { g.AttachState(trainingGraph{}, true) }

// trainingGraph is the key of the graph state MarkTraining attaches.
type trainingGraph struct{}

// dropout is Scope.Dropout on the weights' stream.
func (p *Params) dropout(x *graph.Node, rate float64) *graph.Node {
	g := x.Graph()
	if p.rng == nil || g.State(trainingGraph{}) == nil {
		return x
	}
	state, u := graph.RandomUniform(p.rng.NodeValue(g), x.Shape())
	p.rng.SetNodeValue(state)
	keep := graph.GreaterOrEqual(u, graph.Scalar(g, x.DType(), rate))
	return graph.Where(keep, graph.MulScalar(x, 1/(1-rate)), graph.ZerosLike(x))
}

// VariablePath returns the Store path of the variable holding tensor name.
func VariablePath(name string) string {
	return "/" + strings.ReplaceAll(name, ".", "/")
}

// Set stores t as the weight name.
func (p *Params) Set(name string, t *tensors.Tensor) error {
	if _, ok := p.blocks[name]; ok {
		if err := p.join(name); err != nil {
			return err
		}
	}
	if old, ok := p.vars[name]; ok {
		return old.SetValue(t)
	}
	v, err := p.Store.CreateVariable(VariablePath(name), t)
	if err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	p.vars[name] = v
	p.generation++
	return nil
}

// Delete removes weight name, with its transforms, from Params and its
// Store. Quantization uses it to replace a float weight by integer codes
// of another dtype under the same name. Graphs already compiled keep what
// they were built with.
func (p *Params) Delete(name string) error {
	if _, ok := p.blocks[name]; ok {
		if err := p.join(name); err != nil {
			return err
		}
	}
	if _, ok := p.vars[name]; !ok {
		return fmt.Errorf("modeling: no weight %q to delete", name)
	}
	if err := p.Store.DeleteVariable(VariablePath(name)); err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	delete(p.vars, name)
	delete(p.transposed, name)
	delete(p.transforms, name)
	delete(p.dims, name)
	p.generation++
	return nil
}

// Generation counts the changes that invalidate compiled graphs: a weight
// added or deleted, a transform set or removed. Models cache their compiled
// graphs and rebuild them when it moves, so quantizing or adding adapters
// to a model already used takes effect in its next call. (Changing a
// weight's value is not such a change: graphs read weights as parameters.)
func (p *Params) Generation() uint64 { return p.generation }

// Dims returns the dimensions of weight name as the network sees it: those
// SetDims recorded, else the stored variable's.
func (p *Params) Dims(name string) []int {
	if d, ok := p.dims[name]; ok {
		return d
	}
	if v, ok := p.vars[name]; ok {
		return v.Shape().Dimensions
	}
	if blocks, ok := p.blocks[name]; ok {
		rows := 0
		for _, b := range blocks {
			rows += b.Shape().Dimensions[0]
		}
		return []int{rows, blocks[0].Shape().Dimensions[1]}
	}
	return nil
}

// SetDims records the dimensions weight name has after its transforms when
// they differ from the stored ones (4-bit quantization packs two codes per
// byte, so a [768, 768] weight is stored as [768, 384]).
func (p *Params) SetDims(name string, dims ...int) { p.dims[name] = dims }

// Transposed reports whether weight name is kept as the transpose of its
// checkpoint layout (see Spec.Transpose): its stored shape is then
// [out, in] where the checkpoint has [in, out].
func (p *Params) Transposed(name string) bool { return p.transposed[name] }

// Has reports whether weight name exists.
func (p *Params) Has(name string) bool {
	_, ok := p.vars[name]
	_, split := p.blocks[name]
	return ok || split
}

// Variable returns the variable holding weight name, or nil. A weight laid
// out in blocks of rows (SplitRows) is joined back into one variable first
// (nil if that fails).
func (p *Params) Variable(name string) *model.Variable {
	if _, ok := p.blocks[name]; ok {
		if err := p.join(name); err != nil {
			return nil
		}
	}
	return p.vars[name]
}

// Names returns the weight names, sorted.
func (p *Params) Names() []string {
	names := make([]string, 0, len(p.vars)+len(p.blocks))
	for n := range p.vars {
		names = append(names, n)
	}
	for n := range p.blocks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Node returns weight name as the network uses it in graph g: the stored
// weight, passed through its Transform when one is set. It panics (inside
// graph building, where GoMLX reports panics as errors) when the weight is
// missing; families check their weights when loading, so this means a bug.
func (p *Params) Node(g *graph.Graph, name string) *graph.Node {
	w := p.Raw(g, name)
	for _, t := range p.transforms[name] {
		w = t(g, w)
	}
	return w
}

// Raw returns the stored weight name in graph g, without its Transform
// (trainers differentiate with respect to these); a weight laid out in
// blocks of rows (SplitRows) is their concatenation.
func (p *Params) Raw(g *graph.Graph, name string) *graph.Node {
	if blocks, ok := p.blocks[name]; ok {
		nodes := make([]*graph.Node, len(blocks))
		for i, b := range blocks {
			nodes[i] = b.NodeValue(g)
		}
		return graph.Concatenate(nodes, 0)
	}
	v, ok := p.vars[name]
	if !ok {
		panic(fmt.Sprintf("modeling: weight %q not loaded", name))
	}
	return v.NodeValue(g)
}

// SetTransform makes every graph built from now on use fn(w) in place of
// weight name, where w is the stored weight passed through the transforms
// set before (quantization dequantizes, then LoRA adds its update); a nil fn
// removes the last transform set. Models rebuild their compiled graphs on
// their next call (see Generation); an Exec built directly with NewExec
// keeps what it was built with.
func (p *Params) SetTransform(name string, fn Transform) error {
	if !p.Has(name) {
		return fmt.Errorf("modeling: no weight %q to transform", name)
	}
	ts := p.transforms[name]
	p.generation++
	if fn == nil {
		if len(ts) > 0 {
			p.transforms[name] = ts[:len(ts)-1]
		}
		return nil
	}
	p.transforms[name] = append(ts, fn)
	return nil
}

// Weights returns the weights as a weights.Set under their checkpoint names,
// for saving as safetensors.
func (p *Params) Weights() (*weights.Set, error) {
	set := weights.NewSet()
	for _, name := range p.Names() {
		var t *tensors.Tensor
		var err error
		if _, ok := p.blocks[name]; ok {
			t, err = p.joined(name)
		} else {
			t, err = p.vars[name].Value()
		}
		if err != nil {
			return nil, fmt.Errorf("weight %q: %w", name, err)
		}
		if p.transposed[name] {
			if t, err = Transpose2D(t); err != nil {
				return nil, fmt.Errorf("weight %q: %w", name, err)
			}
		}
		set.Add(name, t, "")
	}
	return set, nil
}

// Spec names one weight a family expects and its shape in the checkpoint.
type Spec struct {
	Name string
	Dims []int
	// Transpose keeps a 2-D [in, out] checkpoint weight (GPT-2's Conv1D) as
	// [out, in], laid out once at load so that every matrix product
	// contracts the weights' last axis, the fast layout for decoding. Saving
	// transposes it back.
	Transpose bool
	// Role is what the weight does in the network (Whole unless set), which
	// sharding strategies split it by; projections that decoding multiplies
	// activations by (column- and row-parallel, the LM head) are laid out
	// in blocks of rows on engines that favour it (Engine.RowBlocks).
	Role Role
}

// Checkpoint says how the weights a network declares are found in a
// checkpoint's tensors.
type Checkpoint struct {
	// Name maps a declared weight's name to the checkpoint's (for prefixes
	// such as "transformer."); nil keeps it.
	Name func(string) string
	// Unread reports the checkpoint's tensors that are not weights of the
	// network (causal-mask buffers, rotary frequencies, a head tied to the
	// embedding). Any other tensor the network does not declare is an
	// error naming it (a config with fewer layers than its checkpoint, or
	// another model's file, would otherwise load silently), unless the
	// set's AllowUnused is on.
	Unread func(string) bool
	// Decoding lays out the weights for decoding: in blocks of rows where
	// the engine favours it (Engine.RowBlocks), for the weights whose role
	// multiplies activations (see SplitRows).
	Decoding bool
}

// LoadSpecsTo loads the weights that specs list from set into new Params on
// backend's device, as float32 (float16 and bfloat16 converted), after
// checking that set holds nothing else (see Checkpoint.Unread). It loads
// one weight at a time: each is read (a safetensors set reads it from its
// file then), laid out, moved to the device, and its host copies released
// before the next is read, so loading holds the weights about once, plus
// the tensor in flight. Tensors the set marks pending
// (weights.Set.AddPending) are only checked, and left for the caller. A
// missing tensor, a wrong shape or a NaN or infinite value (see
// weights.CheckFinite) is an error naming the file and tensor.
func LoadSpecsTo(backend compute.Backend, set *weights.Set, specs []Spec, ck Checkpoint) (*Params, error) {
	checkpointName := ck.Name
	if checkpointName == nil {
		checkpointName = func(n string) string { return n }
	}
	if err := checkUnused(set, specs, checkpointName, ck.Unread); err != nil {
		return nil, err
	}
	decoding := ck.Decoding
	split := map[string]bool{}
	if decoding && EngineOf(backend).RowBlocks {
		for _, s := range specs {
			split[s.Name] = s.Role.multiplies()
		}
	}
	p := NewParams()
	sinceGC := 0
	for _, s := range specs {
		if !split[s.Name] && backend.HasSharedBuffers() {
			done, err := p.loadShared(backend, set, s, checkpointName)
			if err != nil {
				return nil, err
			}
			if done {
				continue
			}
		}
		if err := p.loadSpec(set, s, checkpointName); err != nil {
			return nil, err
		}
		v, ok := p.vars[s.Name]
		if !ok {
			continue // pending
		}
		sinceGC += int(v.Shape().ByteSize())
		var err error
		if split[s.Name] {
			err = p.splitRows(backend, GoRowBlockElements, []string{s.Name})
		}
		if v, ok := p.vars[s.Name]; ok && err == nil { // not split
			err = moveVariable(backend, s.Name, v)
		}
		if err != nil {
			return nil, err
		}
		// Release the host copies now rather than at the collector's pace
		// (it lets the heap grow to twice what is live).
		if sinceGC > 64<<20 {
			runtime.GC()
			sinceGC = 0
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	return p, nil
}

// loadShared reads weight s from set straight into memory that backend
// computes from (a shared buffer), laid out as s says: one copy from the
// page cache when set maps its file, or one transposing pass, and no host
// tensor between (a cell that loads GPT-2 124M spent half its load time in
// the read buffer and the host copy). It reports false, doing nothing, for
// a pending weight, which loadSpec checks.
func (p *Params) loadShared(backend compute.Backend, set *weights.Set, s Spec, checkpointName func(string) string) (bool, error) {
	name := checkpointName(s.Name)
	if _, ok := set.Pending(name); ok {
		return false, nil
	}
	dims := s.Dims
	if s.Transpose {
		if len(dims) != 2 {
			return false, fmt.Errorf("%s: transpose: shape %v is not 2-D", set.Where(name), dims)
		}
		dims = []int{s.Dims[1], s.Dims[0]}
	}
	shape := shapes.Make(dtypes.Float32, dims...)
	var t *tensors.Tensor
	var nonFinite error
	err := set.ViewFloat32(name, s.Dims, func(src []float32) error {
		if nonFinite = weights.CheckFinite(src); nonFinite != nil {
			return nonFinite
		}
		var err error
		if !s.Transpose {
			t, err = tensors.FromRaw(backend, 0, shape, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(src))), 4*len(src)))
			return err
		}
		if t, err = tensors.FromShapeForBackend(backend, 0, shape); err != nil {
			return err
		}
		if e := t.MutableFlatData(func(flat any) { err = transposeBlocked(src, flat.([]float32), s.Dims[0], s.Dims[1], set.Where(name)) }); e != nil {
			return e
		}
		return err
	})
	if nonFinite != nil {
		return false, fmt.Errorf("%s: %w", set.Where(name), nonFinite)
	}
	if err != nil {
		return false, fmt.Errorf("%s: onto %s: %w", set.Where(name), backend.Name(), err)
	}
	p.roles[s.Name] = s.Role
	if s.Transpose {
		p.transposed[s.Name] = true
	}
	return true, p.Set(s.Name, t)
}

// loadSpec reads weight s from set into p, laid out as s says; a pending
// weight is only checked.
func (p *Params) loadSpec(set *weights.Set, s Spec, checkpointName func(string) string) error {
	p.roles[s.Name] = s.Role
	if dims, ok := set.Pending(checkpointName(s.Name)); ok {
		// Supplied after the model is built (quantized codes).
		if !slices.Equal(dims, s.Dims) {
			return fmt.Errorf("%s: shape %v, want %v", set.Where(checkpointName(s.Name)), dims, s.Dims)
		}
		return nil
	}
	t, err := set.Float32(checkpointName(s.Name), s.Dims...)
	if err != nil {
		return err
	}
	var nonFinite error
	if err := t.ConstFlatData(func(flat any) { nonFinite = weights.CheckFinite(flat.([]float32)) }); err != nil {
		return fmt.Errorf("%s: %w", set.Where(checkpointName(s.Name)), err)
	}
	if nonFinite != nil {
		return fmt.Errorf("%s: %w", set.Where(checkpointName(s.Name)), nonFinite)
	}
	if s.Transpose {
		read := t
		if t, err = Transpose2D(t); err != nil {
			return fmt.Errorf("%s: %w", set.Where(checkpointName(s.Name)), err)
		}
		if set.IsLazy(checkpointName(s.Name)) {
			read.FinalizeAll() // our own copy, read from the file
		}
		p.transposed[s.Name] = true
	}
	return p.Set(s.Name, t)
}

// Transpose2D returns the transpose of a 2-D float32 host tensor.
func Transpose2D(t *tensors.Tensor) (*tensors.Tensor, error) {
	dims := t.Shape().Dimensions
	if len(dims) != 2 {
		return nil, fmt.Errorf("transpose: shape %v is not 2-D", dims)
	}
	if dt := t.DType(); dt != dtypes.Float32 {
		return nil, fmt.Errorf("transpose: dtype %s is not float32", dt)
	}
	rows, cols := dims[0], dims[1]
	out := tensors.FromShape(shapes.Make(dtypes.Float32, cols, rows))
	var err error
	t.ConstFlatData(func(flatIn any) {
		out.MutableFlatData(func(flatOut any) {
			err = transposeBlocked(flatIn.([]float32), flatOut.([]float32), rows, cols, "transpose")
		})
	})
	return out, err
}

// transposeBlocked writes the transpose of the row-major [rows, cols] in to
// out, tile by tile, so that both sides stay in cache (a plain double loop
// strides through memory on one side and is several times slower on large
// weights).
//
// Large weights go in bands of rows, one per core (the first touch of out's
// fresh pages costs more than the copy itself). in may be a memory-mapped
// file (weights.Set.ViewFloat32): a fault reading it is returned as an
// error naming where.
func transposeBlocked(in, out []float32, rows, cols int, where string) error {
	const tile = 32
	workers := min(runtime.GOMAXPROCS(0), rows/tile)
	if workers < 2 || rows*cols < 1<<20 {
		return weights.GuardFault(where, func() error { transposeRows(in, out, rows, cols, 0, rows); return nil })
	}
	band := (rows/workers + tile - 1) / tile * tile
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for r0 := 0; r0 < rows; r0 += band {
		wg.Go(func() {
			err := weights.GuardFault(where, func() error { transposeRows(in, out, rows, cols, r0, min(r0+band, rows)); return nil })
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return first
}

// transposeRows is transposeBlocked for rows [from, to) of in.
func transposeRows(in, out []float32, rows, cols, from, to int) {
	const tile = 32
	for r0 := from; r0 < to; r0 += tile {
		r1 := min(r0+tile, to)
		for c0 := 0; c0 < cols; c0 += tile {
			c1 := min(c0+tile, cols)
			for r := r0; r < r1; r++ {
				row := in[r*cols : r*cols+cols]
				for c := c0; c < c1; c++ {
					out[c*rows+r] = row[c]
				}
			}
		}
	}
}

// RandomWeights returns weights for specs initialized as Hugging Face
// initializes a new model: normalization weights 1, biases 0, and every other
// tensor drawn from a normal distribution with standard deviation std
// (a config's initializer_range; 0 means Hugging Face's default, 0.02). The
// same seed gives the same weights.
func RandomWeights(specs []Spec, seed uint64, std float64) *weights.Set {
	if std <= 0 {
		std = 0.02
	}
	rng := rand.New(rand.NewPCG(seed, 0xda942042e4dd58b5))
	set := weights.NewSet()
	set.Source = fmt.Sprintf("random weights (seed %d)", seed)
	for _, s := range specs {
		n := 1
		for _, d := range s.Dims {
			n *= d
		}
		data := make([]float32, n)
		module := strings.TrimSuffix(s.Name, ".weight")
		module = module[strings.LastIndex(module, ".")+1:]
		switch {
		case strings.HasSuffix(s.Name, ".bias"):
		case len(s.Dims) == 1 && isNorm(module):
			for i := range data {
				data[i] = 1
			}
		default:
			for i := range data {
				data[i] = float32(rng.NormFloat64() * std)
			}
		}
		set.Add(s.Name, tensors.FromFlatDataAndDimensions(data, s.Dims...), "")
	}
	return set
}

// ModuleMatches reports whether module ("h.0.attn.c_attn") is named by
// target: the whole name or its trailing dotted parts ("c_attn",
// "attn.c_attn"), PEFT's rule for target_modules, which LoRA and
// quantization both use to pick layers.
func ModuleMatches(module, target string) bool {
	return module == target || strings.HasSuffix(module, "."+target)
}

// isNorm reports whether a module name ("ln_1", "input_layernorm",
// "LayerNorm", "norm") is a normalization layer.
func isNorm(module string) bool {
	m := strings.ToLower(module)
	return strings.Contains(m, "norm") || strings.HasPrefix(m, "ln_") || m == "ln_f"
}

// MoveToDevice transfers every weight to the backend's device and drops the
// host copies, so that a loaded model holds its weights once, not twice.
// (Reading a weight later, to save it, copies it back.)
func (p *Params) MoveToDevice(backend compute.Backend) error {
	// One goroutine per core: the copies into fresh device memory are bound
	// by page faults, which the cores take in parallel.
	names := p.Names()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				errs[i] = p.moveOne(backend, names[i])
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	runtime.GC()
	debug.FreeOSMemory()
	return errors.Join(errs...)
}

// Free releases every weight's memory, host and device, now rather than
// when Go's collector runs the finalizers (ONNX Runtime's buffers are C
// memory the collector does not see: left to it, a discarded model slowed
// the next one). Params and their model must not be used afterwards.
func (p *Params) Free() {
	// Every variable of the Store, a trainer's moments included; Reset
	// frees a sharded value's shards without gathering them first.
	for v := range p.Store.IterVariables() {
		_ = v.Reset()
	}
}

// stored returns the variables holding weight name: one, or its blocks of
// rows (SplitRows).
func (p *Params) stored(name string) []*model.Variable {
	if v, ok := p.vars[name]; ok {
		return []*model.Variable{v}
	}
	return p.blocks[name]
}

// moveOne moves weight name to backend's device and drops its host copy.
func (p *Params) moveOne(backend compute.Backend, name string) error {
	for _, v := range p.stored(name) {
		if err := moveVariable(backend, name, v); err != nil {
			return err
		}
	}
	return nil
}

// moveVariable moves v, a variable of weight name, to backend's device and
// drops its host copy.
func moveVariable(backend compute.Backend, name string, v *model.Variable) error {
	t, err := v.Value()
	if err != nil {
		return fmt.Errorf("weight %q: %w", name, err)
	}
	if err := toDevice(t, backend); err != nil {
		return fmt.Errorf("weight %q: moving to %s: %w", name, backend.Name(), err)
	}
	return nil
}

// toDevice moves t to backend's device and drops its host copy. Where the
// backend shares memory with the host (both CPU engines), t is copied once
// into memory the backend allocates: GoMLX's ONNX Runtime backend keeps the
// slice a non-shared buffer was made from besides its own copy, which held
// every weight twice.
func toDevice(t *tensors.Tensor, backend compute.Backend) error {
	if err := t.MaterializeOnDevice(backend, backend.HasSharedBuffers(), 0); err != nil {
		return err
	}
	t.FinalizeLocal()
	return nil
}
