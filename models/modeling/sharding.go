package modeling

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/trustformers/trustformers-go/xla"
)

// Role is what a weight does in its network, which is all a sharding
// strategy needs to know to split it. A family declares each weight's role
// once, with its name and shape, where its network uses the weight (Scope,
// recorded in Spec.Role); the strategies turn roles into sharding specs, so
// none of them keeps a list of weight names.
//
// Projection weights are stored [out, in] (nn.Linear's layout; GPT-2's
// Conv1D weights are transposed at load to match).
type Role uint8

const (
	// Whole weights are never split by tensor parallelism: norms, position
	// tables, the biases of row-parallel projections, small task heads.
	Whole Role = iota
	// ColumnParallel projections split their outputs (rows of [out, in]):
	// the query, key and value projections, the MLP's up and gate
	// projections (Megatron's column-parallel linear).
	ColumnParallel
	// ColumnBias is the bias of a column-parallel projection; it splits
	// with the outputs.
	ColumnBias
	// RowParallel projections split their inputs (columns of [out, in]):
	// the attention output and the MLP's down projection, whose partial sums
	// are added across devices (Megatron's row-parallel linear).
	RowParallel
	// Embedding is a token embedding table [vocab, d] used only for
	// lookups; it splits by vocabulary rows.
	Embedding
	// LMHead is the output projection [vocab, d] onto the vocabulary (a tied
	// token embedding is declared with this role); it splits by vocabulary
	// rows.
	LMHead
	// ExpertParallel weights hold one slice per expert of a mixture of
	// experts along their first axis ([experts, out, in]: Mixtral's fused
	// gate_up_proj and down_proj); they split by experts, so that each
	// device runs its own experts on every token and the experts' weighted
	// outputs are added across devices.
	ExpertParallel
)

var roleNames = [...]string{"whole", "column-parallel", "column-bias", "row-parallel", "embedding", "lm-head", "expert-parallel"}

// String returns the role's name ("column-parallel", ...).
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// multiplies reports whether a decoding step multiplies activations by the
// weight (the go backend then reads it in blocks of rows, see SplitRows).
func (r Role) multiplies() bool { return r == ColumnParallel || r == RowParallel || r == LMHead }

// Strategy is how a model's weights and batches are laid out over a mesh.
type Strategy uint8

const (
	// DataParallel splits each batch over the mesh's "data" axis and
	// replicates the weights; XLA all-reduces the gradients.
	DataParallel Strategy = iota + 1
	// FullyShard (ZeRO-3, PyTorch FSDP) splits the batch and every weight,
	// its gradient and its optimizer moments over "data"; XLA gathers a
	// weight where a device needs all of it. On a mesh that also has a
	// "model" axis, the weights are split by tensor parallelism over
	// "model" and, along another axis, over "data".
	FullyShard
	// TensorParallel (Megatron) splits projections by their roles over the
	// mesh's "model" axis: column-parallel query, key, value, up and gate
	// projections, row-parallel attention output and down projections, the
	// embedding and LM head by vocabulary, a mixture of experts' weights by
	// experts (expert parallelism). On a mesh that also has a "data" axis
	// the batch is split over it (2-D parallelism).
	TensorParallel
	// ZeRO1 (DeepSpeed's ZeRO stage 1) splits the batch over "data" and
	// keeps every weight whole on every device, as data parallelism does,
	// but splits each weight's optimizer state over "data": each device
	// updates its slice, and the new weights are gathered onto every
	// device. Gradients are whole on every device (all-reduced). On a mesh
	// that also has a "model" axis, weights are split by role over it first,
	// as tensor parallelism splits them.
	ZeRO1
	// ZeRO2 (ZeRO stage 2) is ZeRO1 with the gradients split over "data"
	// as the optimizer state is (reduce-scattered instead of all-reduced).
	ZeRO2
)

var strategyNames = map[Strategy]string{DataParallel: "data", FullyShard: "fsdp", TensorParallel: "tensor", ZeRO1: "zero1", ZeRO2: "zero2"}

// Strategies lists every strategy, in the order of their declaration.
var Strategies = []Strategy{DataParallel, FullyShard, TensorParallel, ZeRO1, ZeRO2}

// String returns "data", "fsdp", "tensor", "zero1" or "zero2", the names
// ParseStrategy reads.
func (s Strategy) String() string {
	if n, ok := strategyNames[s]; ok {
		return n
	}
	return fmt.Sprintf("strategy(%d)", s)
}

// ParseStrategy reads a strategy name: "data" (or "dp"), "fsdp" (or
// "fully-sharded", "zero3"), "tensor" (or "tp"), "zero1" and "zero2".
func ParseStrategy(name string) (Strategy, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "data", "dp", "data-parallel":
		return DataParallel, nil
	case "fsdp", "fully-sharded", "zero3":
		return FullyShard, nil
	case "tensor", "tp", "tensor-parallel":
		return TensorParallel, nil
	case "zero1", "zero-1":
		return ZeRO1, nil
	case "zero2", "zero-2":
		return ZeRO2, nil
	}
	return 0, fmt.Errorf("unknown sharding strategy %q: want data, fsdp, tensor, zero1 or zero2", name)
}

// Sharding lays a model out on a mesh with a strategy. A nil *Sharding, or
// one whose mesh has a single device, means one device and no sharding.
type Sharding struct {
	Mesh     *xla.Mesh
	Strategy Strategy
}

// NewSharding checks that mesh has the axes strategy uses: "data" for data
// parallelism, full sharding and ZeRO, "model" for tensor parallelism.
func NewSharding(mesh *xla.Mesh, strategy Strategy) (*Sharding, error) {
	if mesh == nil {
		return nil, fmt.Errorf("sharding: no mesh")
	}
	switch strategy {
	case DataParallel, FullyShard, ZeRO1, ZeRO2:
		if !mesh.Has(xla.AxisData) {
			return nil, fmt.Errorf("sharding %s: mesh %s has no %q axis", strategy, mesh, xla.AxisData)
		}
	case TensorParallel:
		if !mesh.Has(xla.AxisModel) {
			return nil, fmt.Errorf("sharding %s: mesh %s has no %q axis", strategy, mesh, xla.AxisModel)
		}
	default:
		return nil, fmt.Errorf("sharding: unknown strategy %d", strategy)
	}
	return &Sharding{Mesh: mesh, Strategy: strategy}, nil
}

// distributed reports whether s spreads work over more than one device.
func (s *Sharding) distributed() bool { return s != nil && s.Mesh.NumDevices() > 1 }

// String returns "fsdp over {data: 4}".
func (s *Sharding) String() string {
	if s == nil {
		return "one device"
	}
	return fmt.Sprintf("%s over %s", s.Strategy, s.Mesh)
}

// WeightSpec returns how weight name, of role and stored dims, is split.
// Tensor parallelism needs the split axis to divide by the "model" axis: a
// weight that does not is an error naming it. Full sharding splits the
// first axis that the "data" axis divides (after tensor parallelism's), and
// keeps whole the rare weight with none (their bytes are reported by
// DeviceBytes). ZeRO lays weights out as data parallelism does, or by role
// over "model" on a mesh with that axis.
func (s *Sharding) WeightSpec(name string, role Role, dims []int) (*distributed.ShardingSpec, error) {
	axes, err := s.modelAxes(name, role, dims)
	if err != nil {
		return nil, err
	}
	if s.Strategy == FullyShard {
		s.splitData(axes, dims)
	}
	return distributed.NewShardingSpec(s.Mesh.DeviceMesh(), axes...)
}

// PartSpec returns how a variable holding part of weight name (its
// optimizer state, its gradient) is split. It is laid out as the weight,
// except under ZeRO, which also splits the optimizer state over "data"
// (and, ZeRO-2, the gradient) along the first axis "data" divides.
func (s *Sharding) PartSpec(name string, role Role, dims []int, part Part) (*distributed.ShardingSpec, error) {
	if !(s.Strategy == ZeRO2 || s.Strategy == ZeRO1 && part == PartOptimizerState) {
		return s.WeightSpec(name, role, dims)
	}
	axes, err := s.modelAxes(name, role, dims)
	if err != nil {
		return nil, err
	}
	s.splitData(axes, dims)
	return distributed.NewShardingSpec(s.Mesh.DeviceMesh(), axes...)
}

// modelAxes returns the split of a weight by its role over the "model"
// axis: under tensor parallelism, and under full sharding and ZeRO on a
// mesh with a "model" axis; nothing split otherwise.
func (s *Sharding) modelAxes(name string, role Role, dims []int) ([]distributed.AxisSpec, error) {
	axes := make([]distributed.AxisSpec, len(dims))
	if s.Strategy == DataParallel || s.Strategy != TensorParallel && !s.Mesh.Has(xla.AxisModel) {
		return axes, nil
	}
	axis := -1
	switch role {
	case ColumnParallel, ColumnBias, Embedding, LMHead, ExpertParallel:
		axis = 0
	case RowParallel:
		axis = 1
	}
	if axis < 0 {
		return axes, nil
	}
	n := s.Mesh.Size(xla.AxisModel)
	if axis >= len(dims) {
		return nil, fmt.Errorf("weight %q (%s) has shape %v: no axis %d to split over %q", name, role, dims, axis, xla.AxisModel)
	}
	if dims[axis]%n != 0 {
		return nil, fmt.Errorf("weight %q (%s, shape %v): axis %d of size %d does not divide over the mesh's %q axis of %d devices (pick a model axis that divides it%s)",
			name, role, dims, axis, dims[axis], xla.AxisModel, n, vocabHint(role))
	}
	axes[axis] = distributed.AxisSpec{xla.AxisModel}
	return axes, nil
}

// splitData splits the first axis of dims that is not split yet and that
// the "data" axis divides over "data"; none such keeps the value whole
// along "data".
func (s *Sharding) splitData(axes []distributed.AxisSpec, dims []int) {
	n := s.Mesh.Size(xla.AxisData)
	for i, d := range dims {
		if axes[i] == nil && d%n == 0 {
			axes[i] = distributed.AxisSpec{xla.AxisData}
			return
		}
	}
}

func vocabHint(r Role) string {
	switch r {
	case Embedding, LMHead:
		return ", or pad vocab_size to a multiple of it, as Megatron does"
	case ExpertParallel:
		return ": the experts are divided among its devices"
	}
	return ""
}

// batchSpec returns how an input or output of dims is split: over "data"
// along its first axis (the batch) when the mesh has that axis and it
// divides the batch, else whole on every device.
func (s *Sharding) batchSpec(dims []int) *distributed.ShardingSpec {
	n := s.Mesh.Size(xla.AxisData)
	if n <= 1 || len(dims) == 0 || dims[0]%n != 0 {
		return distributed.NewReplicatedShardingSpec(s.Mesh.DeviceMesh())
	}
	return &distributed.ShardingSpec{Mesh: s.Mesh.DeviceMesh(), Axes: []distributed.AxisSpec{{xla.AxisData}}}
}

// BatchDivides reports whether a batch of rows splits evenly over the mesh's
// "data" axis (always true without one). Trainers check it, so that a
// data-parallel step never silently runs replicated.
func (s *Sharding) BatchDivides(rows int) bool {
	return !s.distributed() || rows%s.DataSize() == 0
}

// DataSize returns the number of devices along the "data" axis (1 without one).
func (s *Sharding) DataSize() int {
	if s == nil || !s.Mesh.Has(xla.AxisData) {
		return 1
	}
	return s.Mesh.Size(xla.AxisData)
}

// Sharding returns how the weights are laid out, nil for one device.
func (p *Params) Sharding() *Sharding { return p.sharding }

// Role returns the role weight name was declared with (Whole when none).
func (p *Params) Role(name string) Role { return p.roles[name] }

// NamesWithRoles returns the weights declared with any of roles, sorted.
func (p *Params) NamesWithRoles(roles ...Role) []string {
	var out []string
	for _, name := range p.Names() {
		for _, r := range roles {
			if p.roles[name] == r {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// SetRole declares weight name's role, for weights a caller adds itself.
func (p *Params) SetRole(name string, r Role) { p.roles[name] = r }

// Shard lays every variable of the Store out as s says — weights by their
// roles, the variables that Follow a weight (a trainer's optimizer moments)
// as that weight — moving each shard to its device; s nil (or a mesh of one
// device) gathers everything back onto the first device. Every spec is
// checked before anything moves, so an error (a weight the mesh does not
// divide) leaves the Params as they were. Models rebuild their compiled
// graphs for the new layout on their next call.
func (p *Params) Shard(s *Sharding) error {
	if s != nil && !s.distributed() {
		s = nil
	}
	if s == nil && p.sharding == nil {
		return nil // already on one device
	}
	if err := p.JoinRows(); err != nil {
		return err
	}
	specs := map[*model.Variable]*distributed.ShardingSpec{}
	if s != nil {
		for _, name := range p.Names() { // sorted: the first error is the same every time
			v := p.vars[name]
			spec, err := s.WeightSpec(name, p.roles[name], v.Shape().Dimensions)
			if err != nil {
				return err
			}
			specs[v] = spec
		}
		for v := range p.Store.IterVariables() {
			if _, ok := specs[v]; ok {
				continue
			}
			spec := distributed.NewReplicatedShardingSpec(s.Mesh.DeviceMesh())
			if f, ok := p.follows[v.Path()]; ok {
				var err error
				if spec, err = p.partSpec(s, f); err != nil {
					return err
				}
			}
			specs[v] = spec
		}
	}
	// Shards go to s's devices; gathered values back to the first device
	// of the mesh they were on.
	on := s
	if on == nil {
		on = p.sharding
	}
	for v := range p.Store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		if err := place(on.Mesh.Backend, v, specs[v]); err != nil {
			return err
		}
	}
	p.sharding = s
	p.generation++
	return nil
}

// Part is what a variable that follows a weight holds for it (see Follow).
type Part uint8

const (
	// PartOptimizerState is an optimizer's state of the weight's shape (AdamW's
	// moments): laid out as the weight, or split over "data" under ZeRO.
	PartOptimizerState Part = iota + 1
	// PartGradient is a gradient kept between programs (an accumulator): laid
	// out as the weight, or split over "data" under ZeRO-2.
	PartGradient
)

// String returns "optimizer state" or "gradient".
func (pt Part) String() string {
	switch pt {
	case PartOptimizerState:
		return "optimizer state"
	case PartGradient:
		return "gradient"
	}
	return fmt.Sprintf("part(%d)", pt)
}

// followed is the weight a variable follows and what it holds for it.
type followed struct {
	weight string
	part   Part
}

// Follow makes the variable at path (created in p.Store by a trainer: an
// optimizer moment, a gradient accumulator, of the weight's shape) be laid
// out for weight as part says (see Sharding.PartSpec), now and by every
// later Shard.
func (p *Params) Follow(path, weight string, part Part) error {
	v := p.Store.GetVariable(path)
	if v == nil {
		return fmt.Errorf("modeling: no variable %q to lay out as weight %q", path, weight)
	}
	if _, ok := p.vars[weight]; !ok {
		return fmt.Errorf("modeling: variable %q follows weight %q, which is not loaded whole", path, weight)
	}
	f := followed{weight, part}
	p.follows[path] = f
	if p.sharding == nil {
		return nil
	}
	spec, err := p.partSpec(p.sharding, f)
	if err != nil {
		return err
	}
	return place(p.sharding.Mesh.Backend, v, spec)
}

// partSpec returns the layout under s of a variable that follows f.weight.
func (p *Params) partSpec(s *Sharding, f followed) (*distributed.ShardingSpec, error) {
	w := p.vars[f.weight]
	if w == nil { // deleted since (quantized): the variable goes whole onto one device
		return nil, nil
	}
	return s.PartSpec(f.weight, p.roles[f.weight], w.Shape().Dimensions, f.part)
}

// place lays v out with spec, each shard on its device of backend; a nil
// spec makes it one tensor on the first device again.
func place(backend compute.Backend, v *model.Variable, spec *distributed.ShardingSpec) error {
	t, err := v.Value() // merges a sharded value
	if err != nil {
		return fmt.Errorf("variable %q: %w", v.Path(), err)
	}
	if spec == nil {
		whole, err := t.LocalClone()
		if err != nil {
			return fmt.Errorf("variable %q: %w", v.Path(), err)
		}
		if err := v.SetValue(whole); err != nil {
			return fmt.Errorf("variable %q: %w", v.Path(), err)
		}
		if err := v.SetShardingSpec(nil); err != nil {
			return fmt.Errorf("variable %q: %w", v.Path(), err)
		}
		return toDevice(whole, backend)
	}
	dt, err := dtensor.ShardTensor(spec, t)
	if err != nil {
		return fmt.Errorf("variable %q: %w", v.Path(), err)
	}
	for i, shard := range dt.Shards() {
		if err := shard.MaterializeOnDevice(backend, backend.HasSharedBuffers(), compute.DeviceNum(i)); err != nil {
			return fmt.Errorf("variable %q: shard %d: %w", v.Path(), i, err)
		}
		shard.FinalizeLocal()
	}
	if err := v.SetDistributedValue(dt); err != nil {
		return fmt.Errorf("variable %q: %w", v.Path(), err)
	}
	return nil
}

// DeviceBytes returns how many bytes of the Store's variables (the weights,
// and a trainer's optimizer state and gradients) each of backend's devices
// holds, read from the device buffers themselves.
func (p *Params) DeviceBytes(backend compute.Backend) ([]int64, error) {
	f, err := p.Footprint(backend)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(f.Weights))
	for dev := range out {
		out[dev] = f.Weights[dev] + f.Gradients[dev] + f.OptimizerState[dev] + f.Other[dev]
	}
	return out, nil
}

// Footprint is how many bytes each device holds, by what they hold; each
// slice has one entry per device of the backend.
type Footprint struct {
	// Weights are the model's weights.
	Weights []int64
	// Gradients are the gradients kept on the devices between programs
	// (variables that Follow a weight as PartGradient: a trainer's
	// accumulators). Gradients that live only inside a compiled step are
	// not buffers that outlast it, so they are not counted.
	Gradients []int64
	// OptimizerState is the state that Follows a weight (AdamW's moments).
	OptimizerState []int64
	// Other is every other variable: the dropout stream, an optimizer's
	// state of another shape than its weight's (Adafactor's factors).
	Other []int64
}

// Footprint returns the bytes of the Store's variables that each of
// backend's devices holds, read from the device buffers themselves, by
// what they hold.
func (p *Params) Footprint(backend compute.Backend) (Footprint, error) {
	n := backend.NumDevices()
	f := Footprint{make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)}
	weights := map[*model.Variable]bool{}
	for _, v := range p.vars {
		weights[v] = true
	}
	for _, vs := range p.blocks {
		for _, v := range vs {
			weights[v] = true
		}
	}
	for v := range p.Store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		into := f.Other
		switch {
		case weights[v]:
			into = f.Weights
		case p.follows[v.Path()].part == PartGradient:
			into = f.Gradients
		case p.follows[v.Path()].part == PartOptimizerState:
			into = f.OptimizerState
		}
		if err := p.addDeviceBytes(backend, v, into); err != nil {
			return Footprint{}, fmt.Errorf("variable %q: %w", v.Path(), err)
		}
	}
	return f, nil
}

// addDeviceBytes adds to out[device] the bytes of v's buffer on each device.
func (p *Params) addDeviceBytes(backend compute.Backend, v *model.Variable, out []int64) error {
	add := func(t *tensors.Tensor, dev compute.DeviceNum) error {
		if int(dev) >= len(out) || !t.IsOnDevice(dev) {
			return nil
		}
		buf, err := t.Buffer(backend, dev)
		if err != nil {
			return err
		}
		shape, err := buf.Shape()
		if err != nil {
			return err
		}
		out[dev] += shape.ByteSize()
		return nil
	}
	if p.sharding != nil {
		dt, err := v.DistributedValue()
		if err != nil {
			return err
		}
		for i, shard := range dt.Shards() {
			if err := add(shard, compute.DeviceNum(i)); err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
		}
		return nil
	}
	t, err := v.Value()
	if err != nil {
		return err
	}
	if !t.IsOnAnyDevice() {
		return nil
	}
	dev, err := t.Device()
	if err != nil {
		return err
	}
	return add(t, dev)
}

// Placement describes where the slices of one weight live: its spec, the
// shape of each shard, and for each device which slice of every axis
// ([start, end) per axis) it holds.
type Placement struct {
	Name  string
	Role  Role
	Dims  []int
	Spec  string
	Shard []int
	// Slices[device][axis] is the [start, end) range of that axis held there.
	Slices [][][2]int
}

// Placements returns every weight's placement, in name order, for tables
// and charts of who holds what (one device: every weight whole on device 0).
func (p *Params) Placements() []Placement {
	var out []Placement
	for _, name := range p.Names() {
		v := p.vars[name]
		if v == nil {
			continue
		}
		dims := v.Shape().Dimensions
		pl := Placement{Name: name, Role: p.roles[name], Dims: dims, Spec: "whole", Shard: dims}
		spec := v.ShardingSpec()
		if p.sharding == nil || spec == nil {
			whole := make([][2]int, len(dims))
			for i, d := range dims {
				whole[i] = [2]int{0, d}
			}
			pl.Slices = [][][2]int{whole}
			out = append(out, pl)
			continue
		}
		mesh := p.sharding.Mesh
		pl.Spec = specString(spec, len(dims))
		pl.Shard = spec.ShardShape(v.Shape()).Dimensions
		for dev := range mesh.NumDevices() {
			coords := mesh.Coordinates(dev)
			slices := make([][2]int, len(dims))
			for axis, d := range dims {
				pos := 0
				if axis < len(spec.Axes) {
					for _, meshAxis := range spec.Axes[axis] {
						for i, a := range mesh.Axes() {
							if a.Name == meshAxis {
								pos = pos*a.Size + coords[i]
							}
						}
					}
				}
				size := pl.Shard[axis]
				slices[axis] = [2]int{pos * size, min(d, (pos+1)*size)}
			}
			pl.Slices = append(pl.Slices, slices)
		}
		out = append(out, pl)
	}
	return out
}

// Share returns the fraction of the weight's elements device holds (1: all
// of it).
func (pl Placement) Share(device int) float64 {
	if device >= len(pl.Slices) {
		return 0
	}
	share := 1.0
	for axis, r := range pl.Slices[device] {
		share *= float64(r[1]-r[0]) / float64(pl.Dims[axis])
	}
	return share
}

// SliceText describes what device holds, "[0:24, 0:128]" (a range per
// axis), or "—" when it holds nothing.
func (pl Placement) SliceText(device int) string {
	if device >= len(pl.Slices) {
		return "—"
	}
	parts := make([]string, len(pl.Slices[device]))
	for axis, r := range pl.Slices[device] {
		parts[axis] = fmt.Sprintf("%d:%d", r[0], r[1])
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// specString writes spec as JAX writes a PartitionSpec: ("data", None).
func specString(spec *distributed.ShardingSpec, rank int) string {
	parts := make([]string, rank)
	for i := range parts {
		parts[i] = "None"
		if i < len(spec.Axes) && len(spec.Axes[i]) > 0 {
			parts[i] = `"` + strings.Join(spec.Axes[i], `","`) + `"`
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
