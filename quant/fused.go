package quant

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
	onnx "github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/shapes"
	"github.com/trustformers/trustformers-go/files"
	"google.golang.org/protobuf/proto"
)

// Route is how a quantized weight reaches the products that use it.
type Route string

// The routes.
const (
	// Auto is Fused on a backend made by Fused, Dequantize on any other.
	Auto Route = ""
	// Dequantize rebuilds each float32 weight from its codes inside every
	// graph: every scheme, every engine (go, xla:cpu, onnx:cpu), and
	// LoRA adapters on top; as slow as float32 or slower.
	Dequantize Route = "dequantize"
	// Fused multiplies by the codes directly: ONNX Runtime's MatMulNBits
	// (int8 and int4, onnx:cpu only, on a backend made by Fused).
	Fused Route = "fused"
)

// ParseRoute returns the route called name ("", "auto", "dequantize",
// "fused").
func ParseRoute(name string) (Route, error) {
	switch Route(name) {
	case Auto, "auto":
		return Auto, nil
	case Dequantize, Fused:
		return Route(name), nil
	}
	return "", fmt.Errorf("quant: unknown route %q (supported: auto, dequantize, fused)", name)
}

// FusedEngine is the engine the fused route runs on.
const FusedEngine = "onnx:cpu"

// dequantizeEngines are the engines the dequantize route runs on.
const dequantizeEngines = "go, xla:cpu and onnx:cpu"

// FusedConfig tunes the fused route.
type FusedConfig struct {
	// FloatActivations multiplies float32 activations by the dequantized
	// blocks (MatMulNBits accuracy_level 0) instead of quantizing each
	// activation row to int8 per block first (accuracy_level 4, MLAS's
	// integer kernels: several times faster, see docs/quantization.md, at
	// the cost of the activations' own rounding).
	FloatActivations bool
}

// fusedBackend is an ONNX Runtime backend whose compiled programs multiply
// by quantized weights directly: each program's ONNX model is rewritten
// (dequantization + MatMul → com.microsoft MatMulNBits) before it runs.
type fusedBackend struct {
	*onnxbackend.Backend
	accuracy int

	// products counts the products the rewrite has fused (for tests and
	// reports).
	products atomic.Int64

	mu sync.Mutex
	// weights are the quantized weights graphs built on this backend fuse,
	// by name (see fuseWeight).
	weights map[string]Layout
}

// NewFusedBackend returns backend (ONNX Runtime on the CPU, "onnx:cpu")
// with the fused route: load a model on it and quantize it (Apply, or a
// quantized folder) and its int8 and int4 linear layers run as ONNX
// Runtime's MatMulNBits, the weights at their quantized size; everything
// else runs as on backend. Any other engine is refused, naming the one
// that has the route.
func NewFusedBackend(backend compute.Backend, cfg FusedConfig) (compute.Backend, error) {
	if fb, ok := backend.(*fusedBackend); ok {
		backend = fb.Backend
	}
	ob, ok := backend.(*onnxbackend.Backend)
	if !ok || !strings.EqualFold(ob.ExecutionProvider().String(), "cpu") {
		return nil, fmt.Errorf("quant: backend %s has no fused low-bit product: the fused route runs on %s (ONNX Runtime's MatMulNBits); "+
			"on %s quantized weights take the dequantize route", describe(backend), FusedEngine, dequantizeEngines)
	}
	// The rewrite reads each compiled program's ONNX model.
	ob.SetKeepModelProto(true)
	accuracy := 4
	if cfg.FloatActivations {
		accuracy = 0
	}
	return &fusedBackend{Backend: ob, accuracy: accuracy, weights: map[string]Layout{}}, nil
}

// describe names a backend for an error message.
func describe(b compute.Backend) string {
	if b == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q (%s)", b.Name(), b.Description())
}

// FusedProducts returns how many matrix products the programs compiled on
// backend (made by NewFusedBackend) run as MatMulNBits, counted when each
// program first runs; 0 for any other backend.
func FusedProducts(backend compute.Backend) int {
	if fb, ok := backend.(*fusedBackend); ok {
		return int(fb.products.Load())
	}
	return 0
}

// fuseWeight checks that weight name, stored with layout l, can take route
// r on backend b, and when it takes the fused route, registers it so that
// the programs compiled on b fuse it. It returns whether the weight is
// fused.
func fuseWeight(b compute.Backend, name string, l Layout, r Route) (bool, error) {
	fb, onFused := b.(*fusedBackend)
	switch {
	case r == Dequantize || (r == Auto && !onFused):
		return false, nil
	case !onFused:
		return false, fmt.Errorf("quant: weight %q: the fused route runs on %s (a backend made by quant.NewFusedBackend), not on %s; "+
			"the dequantize route runs %s on %s", name, FusedEngine, describe(b), l.Scheme, dequantizeEngines)
	}
	if err := fusable(l); err != nil {
		return false, fmt.Errorf("quant: weight %q: %w", name, err)
	}
	fb.mu.Lock()
	fb.weights[name] = l
	fb.mu.Unlock()
	return true, nil
}

// fusable reports why layout l has no fused product, or nil.
func fusable(l Layout) error {
	if _, ok := fusedMappings[l.Scheme]; !ok {
		return fmt.Errorf("%s has no fused product in ONNX Runtime (MatMulNBits takes evenly spaced integer levels); "+
			"it runs on the dequantize route (Route %q) on %s", l.Scheme, Dequantize, dequantizeEngines)
	}
	if l.Scheme == Int4 {
		if b, err := nbitsBlock(l.GroupSize); err != nil || b != l.GroupSize {
			return fmt.Errorf("int4 group size %d is not a MatMulNBits block size (a power of two from 16 to 256); "+
				"it runs on the dequantize route (Route %q) on %s", l.GroupSize, Dequantize, dequantizeEngines)
		}
	}
	return nil
}

// layouts returns a copy of the weights registered for fusion.
func (b *fusedBackend) layouts() map[string]Layout {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]Layout, len(b.weights))
	for k, v := range b.weights {
		out[k] = v
	}
	return out
}

// String names the backend and its route in messages.
func (b *fusedBackend) String() string { return FusedEngine + " (fused low-bit route)" }

// Builder returns a builder whose Compile rewrites the program.
func (b *fusedBackend) Builder(name string) compute.Builder {
	return &fusedBuilder{Builder: b.Backend.Builder(name), b: b}
}

// fusedBuilder compiles as ONNX Runtime's builder does, then fuses the
// quantized products of the program.
type fusedBuilder struct {
	compute.Builder
	b *fusedBackend
}

// modelProtoer is what ONNX Runtime's executables expose of their model.
type modelProtoer interface{ ModelProto() *onnx.ModelProto }

// Compile compiles the program; when it multiplies by weights registered
// for fusion, it returns an executable that runs the rewritten model.
func (fb *fusedBuilder) Compile() (compute.Executable, error) {
	exec, err := fb.Builder.Compile()
	if err != nil {
		return nil, err
	}
	weights := fb.b.layouts()
	if len(weights) == 0 {
		return exec, nil
	}
	mp, ok := exec.(modelProtoer)
	if !ok || mp.ModelProto() == nil {
		exec.Finalize()
		return nil, errors.New("quant: fused route: ONNX Runtime's executable kept no ONNX model to rewrite")
	}
	model := mp.ModelProto()
	fusions := findFusions(model.Graph, weights)
	if len(fusions) == 0 {
		return exec, nil
	}
	names, inShapes := exec.Inputs()
	fe := &fusedExec{b: fb.b, model: model, fusions: fusions, names: names, shapes: inShapes, outputs: exec.Outputs()}
	exec.Finalize() // the rewritten model replaces it on the first call
	return fe, nil
}

// fusedExec runs a program whose quantized products are MatMulNBits. It
// takes the original program's inputs; the stored tensors of the fused
// weights become initializers of the rewritten model (ONNX Runtime packs
// MatMulNBits' weights for its kernels only when they are constant), made
// on the first call from the buffers passed then, and made again if a
// later call passes other buffers for them.
type fusedExec struct {
	b       *fusedBackend
	model   *onnx.ModelProto
	fusions []fusion
	names   []string
	shapes  []shapes.Shape
	outputs []shapes.Shape

	mu     sync.Mutex
	exec   compute.Executable
	keep   []int                  // the inputs the rewritten model takes, in order
	folded map[int]compute.Buffer // the inputs made initializers, with the buffers they came from
}

// Finalize releases the rewritten model's session.
func (e *fusedExec) Finalize() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exec != nil {
		e.exec.Finalize()
		e.exec = nil
	}
}

// Inputs returns the original program's inputs.
func (e *fusedExec) Inputs() ([]string, []shapes.Shape) { return e.names, e.shapes }

// Outputs returns the program's outputs.
func (e *fusedExec) Outputs() []shapes.Shape { return e.outputs }

// Execute runs the rewritten model on inputs, less those folded into it.
func (e *fusedExec) Execute(inputs []compute.Buffer, donate []bool, device compute.DeviceNum) ([]compute.Buffer, error) {
	if len(inputs) != len(e.names) {
		return nil, fmt.Errorf("quant: fused program takes %d inputs, got %d", len(e.names), len(inputs))
	}
	exec, keep, err := e.ready(inputs)
	if err != nil {
		return nil, err
	}
	in := make([]compute.Buffer, len(keep))
	var give []bool
	if donate != nil {
		give = make([]bool, len(keep))
	}
	for j, i := range keep {
		in[j] = inputs[i]
		if donate != nil {
			give[j] = donate[i]
		}
	}
	return exec.Execute(in, give, device)
}

// ready returns the rewritten model's executable for these inputs, making
// it when there is none or when the folded inputs changed.
func (e *fusedExec) ready(inputs []compute.Buffer) (compute.Executable, []int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exec != nil {
		same := true
		for i, buf := range e.folded {
			same = same && inputs[i] == buf
		}
		if same {
			return e.exec, e.keep, nil
		}
		e.exec.Finalize()
		e.exec = nil
	}
	index := map[string]int{}
	for i, n := range e.names {
		index[n] = i
	}
	operands := map[string]*NBits{}
	for _, f := range e.fusions {
		nb, err := readNBits(f, func(suffix string) compute.Buffer { return inputs[index[f.inputs[suffix]]] })
		if err != nil {
			return nil, nil, fmt.Errorf("quant: fused route: weight %q: %w", f.name, err)
		}
		operands[f.name] = nb
	}
	model := proto.Clone(e.model).(*onnx.ModelProto)
	dropped := rewrite(model.Graph, e.fusions, operands, e.b.accuracy)
	for _, f := range e.fusions {
		e.b.products.Add(int64(len(f.products)))
	}
	data, err := proto.Marshal(model)
	if err != nil {
		return nil, nil, fmt.Errorf("quant: fused route: %w", err)
	}
	if err := dumpProgram(data); err != nil {
		return nil, nil, err
	}
	exec, err := onnxbackend.LoadModel(e.b.Backend, bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("quant: fused route: ONNX Runtime refused the rewritten program: %w", err)
	}
	e.keep, e.folded = nil, map[int]compute.Buffer{}
	for i, n := range e.names {
		if dropped[n] {
			e.folded[i] = inputs[i]
		} else {
			e.keep = append(e.keep, i)
		}
	}
	if got, _ := exec.Inputs(); len(got) != len(e.keep) {
		exec.Finalize()
		return nil, nil, fmt.Errorf("quant: fused route: the rewritten program takes %d inputs, want %d", len(got), len(e.keep))
	}
	e.exec = exec
	return exec, e.keep, nil
}

// EnvFusedDump names a folder into which the fused route writes each
// rewritten program as program-N.onnx (N counting from 1 in this
// process), to profile it with ONNX Runtime's own tools
// (docs/quantization.md); unset, nothing is written.
const EnvFusedDump = "TRUSTFORMERS_FUSED_DUMP"

var dumped atomic.Int64

// dumpProgram writes a rewritten program where EnvFusedDump asks.
func dumpProgram(data []byte) error {
	dir := os.Getenv(EnvFusedDump)
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, fmt.Sprintf("program-%d.onnx", dumped.Add(1)))
	if err := files.WriteFile(path, data); err != nil {
		return fmt.Errorf("quant: %s: %w", EnvFusedDump, err)
	}
	return nil
}

// readNBits reads a fused weight's stored tensors from their buffers
// (get, by suffix) and maps them onto MatMulNBits' operands.
func readNBits(f fusion, get func(suffix string) compute.Buffer) (*NBits, error) {
	l := f.layout
	t := &Tensor{Layout: l}
	var err error
	if l.Scheme == Int8 {
		codes := make([]int8, l.Rows*l.Cols)
		err = errors.Join(get("").ToFlatData(codes))
		t.Codes = make([]byte, len(codes))
		for i, c := range codes {
			t.Codes[i] = byte(c)
		}
		t.Scale = make([]float32, l.Rows)
	} else {
		t.Codes = make([]byte, l.Rows*l.Cols/2)
		err = get("").ToFlatData(t.Codes)
		t.Scale = make([]float32, l.Rows*l.Groups())
	}
	err = errors.Join(err, get(suffixScale).ToFlatData(t.Scale))
	if l.Scheme == Int4 {
		t.Zero = make([]uint8, l.Rows*l.Groups())
		err = errors.Join(err, get(suffixZero).ToFlatData(t.Zero))
	}
	if err != nil {
		return nil, err
	}
	return toNBits(t)
}

var (
	_ compute.Backend    = (*fusedBackend)(nil)
	_ compute.Executable = (*fusedExec)(nil)
)
