package modeling

import (
	"fmt"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	"github.com/gomlx/gomlx/ml/model"
)

// Program is a function over a model's weights, compiled once per input shape
// (see Params.NewExec). When the Params are sharded over a mesh of several
// devices, one call runs the program on every device as XLA's partitioner
// (Shardy) splits it: the graph is written for the whole batch and the whole
// weights, and XLA inserts the collectives. Then every input and output of
// rank one or more is taken as batch-major and split over the mesh's "data"
// axis along its first axis where that divides it (whole on every device
// otherwise, or under tensor parallelism alone); scalars are whole. Weights
// updated in the graph keep their layout.
type Program struct {
	inner    *model.Exec
	sharding *Sharding // nil on one device

	// callMu serializes calls on a mesh, whose input layouts are set on the
	// shared model.Exec just before each call.
	callMu sync.Mutex
	mu     sync.Mutex
	// outputs[graph] are the layouts of a compiled graph's outputs (the
	// function's, not the updated weights the Store collects first).
	outputs map[graph.GraphId][]*distributed.ShardingSpec
}

// NewExec compiles fn over the weights' Store on backend, with the weights
// read as graph parameters. GoMLX embeds variables as constants in graphs that
// are not marked as training when the backend prefers constants (the go and
// ONNX Runtime backends do): every weight then gets hashed and copied into the
// compiled graph (seconds of compilation, gigabytes of memory for GPT-2), the
// graph is tied to one set of weights, and updated weights are never read
// back. So every graph over Params is built here, marked as training, which
// nothing in our networks depends on (they have no dropout or batch
// statistics). fn receives the call's inputs and returns its outputs.
//
// The Program runs on the layout the Params have when it is made (see Shard);
// models make their programs again when the layout changes.
func (p *Params) NewExec(backend compute.Backend, fn func(in []*graph.Node) []*graph.Node) (*Program, error) {
	e := &Program{outputs: map[graph.GraphId][]*distributed.ShardingSpec{}}
	if s := p.sharding; s.distributed() {
		if s.Mesh.Backend != backend {
			return nil, fmt.Errorf("modeling: the weights are sharded over %s on backend %s; the program asks for backend %s",
				s.Mesh, s.Mesh.Backend.Name(), backend.Name())
		}
		e.sharding = s
	}
	inner, err := model.NewExec(backend, p.Store, func(_ *model.Scope, in []*graph.Node) []*graph.Node {
		g := in[0].Graph()
		// "Training" for GoMLX: variables stay parameters, never constants
		// folded into the graph (the go and ONNX engines would fold them
		// otherwise, and a graph would keep the values it was built with).
		// Dropout has its own mark (MarkTraining).
		p.Store.SetTraining(g, true)
		out := fn(in)
		if e.sharding != nil {
			e.setOutputLayouts(g, out)
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	if e.sharding != nil {
		inner.AutoSharding(e.sharding.Mesh.DeviceMesh())
	}
	e.inner = inner
	return e, nil
}

// setOutputLayouts gives the compiled graph g its outputs' layouts: first
// the variables the graph updates, in the Store's order (model.Exec returns
// their new values before the function's outputs), each as it is laid out,
// then the function's outputs, batch-major.
func (e *Program) setOutputLayouts(g *graph.Graph, out []*graph.Node) {
	var specs []*distributed.ShardingSpec
	for v := range e.inner.Store().IterVariables() {
		if v.ChangedInGraph(g) {
			spec := v.ShardingSpec()
			if spec == nil {
				spec = distributed.NewReplicatedShardingSpec(e.sharding.Mesh.DeviceMesh())
			}
			specs = append(specs, spec)
		}
	}
	mine := make([]*distributed.ShardingSpec, len(out))
	for i, o := range out {
		mine[i] = e.sharding.batchSpec(o.Shape().Dimensions)
	}
	e.mu.Lock()
	e.outputs[g.GraphId()] = mine
	e.mu.Unlock()
	e.inner.WithOutputShardingSpecs(append(specs, mine...)...)
}

// Call runs the program on args (tensors, Go values, or on a mesh also
// *dtensor.Tensor values laid out as the program expects) and returns its
// outputs, each whole: on a mesh, an output split over devices is gathered
// onto the host.
func (e *Program) Call(args ...any) (outs []*tensors.Tensor, err error) {
	if e.sharding == nil {
		// A graph that does not build (a weight of the wrong shape, a
		// missing one) panics in GoMLX: it is an error here.
		defer func() {
			if r := recover(); r != nil {
				outs, err = nil, fmt.Errorf("modeling: %v", r)
			}
		}()
		return e.inner.Call(args...)
	}
	dist, err := e.CallDistributed(args...)
	if err != nil {
		return nil, err
	}
	whole := make([]*tensors.Tensor, len(dist))
	for i, dt := range dist {
		if whole[i], err = gather(dt); err != nil {
			return nil, fmt.Errorf("gathering output %d: %w", i, err)
		}
	}
	return whole, nil
}

// gather returns dt as one tensor and releases its shards: a replicated
// value's first shard as it is, a split one merged on the host.
func gather(dt *dtensor.Tensor) (*tensors.Tensor, error) {
	if dt.ShardingSpec().IsReplicated() {
		for _, s := range dt.Shards()[1:] {
			_ = s.FinalizeAll()
		}
		return dt.Shards()[0], nil
	}
	defer dt.FinalizeAll()
	return dt.Merge()
}

// CallDistributed is Call on a mesh, returning the outputs as they lie on
// the devices, so that a caller can pass them to the next call without
// gathering them (a KV cache between decoding steps).
func (e *Program) CallDistributed(args ...any) (outs []*dtensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, fmt.Errorf("modeling: %v", r)
		}
	}()
	if e.sharding == nil {
		return nil, fmt.Errorf("modeling: CallDistributed on a program for one device")
	}
	in := make([]any, len(args))
	specs := make([]*distributed.ShardingSpec, len(args))
	var temporary []*dtensor.Tensor
	defer func() {
		for _, dt := range temporary {
			_ = dt.FinalizeAll()
		}
	}()
	for i, a := range args {
		if dt, ok := a.(*dtensor.Tensor); ok {
			in[i], specs[i] = dt, dt.ShardingSpec()
			continue
		}
		t, ok := a.(*tensors.Tensor)
		if !ok {
			var err error
			if t, err = tensors.FromAnyValue(a); err != nil {
				return nil, fmt.Errorf("input %d: %w", i, err)
			}
		}
		spec := e.sharding.batchSpec(t.Shape().Dimensions)
		dt, err := dtensor.ShardTensor(spec, t)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		in[i], specs[i] = dt, spec
		temporary = append(temporary, dt)
	}
	e.callMu.Lock()
	e.inner.WithInputShardingSpecs(specs...)
	shards, g, err := e.inner.CallWithGraph(in...)
	e.callMu.Unlock()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	layouts := e.outputs[g.GraphId()]
	e.mu.Unlock()
	n := e.sharding.Mesh.NumDevices()
	if len(shards) != n*len(layouts) {
		return nil, fmt.Errorf("modeling: program returned %d shards for %d outputs on %d devices", len(shards), len(layouts), n)
	}
	outs = make([]*dtensor.Tensor, len(layouts))
	for i, spec := range layouts {
		per := make([]*tensors.Tensor, n)
		for dev := range n {
			per[dev] = shards[dev*len(layouts)+i]
		}
		if outs[i], err = dtensor.NewTensor(spec, per); err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
	}
	return outs, nil
}

// NumDevices returns how many devices one call runs on.
func (e *Program) NumDevices() int {
	if e.sharding == nil {
		return 1
	}
	return e.sharding.Mesh.NumDevices()
}

// Finalize releases the compiled programs.
func (e *Program) Finalize() { e.inner.Finalize() }
