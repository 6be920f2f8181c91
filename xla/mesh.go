package xla

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
)

// The mesh axes that sharding strategies use, as in JAX's and Megatron's
// vocabulary: the batch is split over AxisData, the weights of
// tensor-parallel layers over AxisModel, and a pipeline's stages lie along
// AxisStage.
const (
	AxisData  = "data"
	AxisModel = "model"
	AxisStage = "stage"
)

// MeshAxis is one named axis of a Mesh and how many devices lie along it.
type MeshAxis struct {
	Name string
	Size int
}

// Mesh is a backend's devices arranged on named axes, as JAX's
// jax.sharding.Mesh: Mesh{data: 2, model: 2} lays four devices out as a
// 2×2 grid, device i at row i/2 and column i%2. A mesh may use fewer devices
// than the backend has (its first ones), which is how a run saved on four
// devices resumes on two.
type Mesh struct {
	Backend compute.Backend
	axes    []MeshAxis
	devices *distributed.DeviceMesh
}

// NewMesh arranges backend's first devices on axes. The product of the axis
// sizes is the number of devices used; it must not exceed the backend's.
func NewMesh(backend compute.Backend, axes ...MeshAxis) (*Mesh, error) {
	if backend == nil {
		return nil, fmt.Errorf("mesh: no backend")
	}
	if len(axes) == 0 {
		return nil, fmt.Errorf("mesh: no axes (want for example data=4, or data=2 and model=2)")
	}
	names := make([]string, len(axes))
	sizes := make([]int, len(axes))
	n := 1
	for i, a := range axes {
		if a.Size < 1 {
			return nil, fmt.Errorf("mesh: axis %q has %d devices; want at least 1", a.Name, a.Size)
		}
		names[i], sizes[i] = a.Name, a.Size
		n *= a.Size
	}
	if have := backend.NumDevices(); n > have {
		return nil, fmt.Errorf("mesh %s needs %d devices; backend %s has %d (for host devices use xla:cpu,devices=%d)",
			formatAxes(axes), n, SpecOf(backend), have, n)
	}
	dm, err := distributed.NewDeviceMesh(sizes, names)
	if err != nil {
		return nil, fmt.Errorf("mesh %s: %w", formatAxes(axes), err)
	}
	return &Mesh{Backend: backend, axes: append([]MeshAxis(nil), axes...), devices: dm}, nil
}

// ParseMesh reads a mesh written as "data=2,model=2" (or a bare number N,
// which means data=N) and makes it from backend's devices.
func ParseMesh(backend compute.Backend, s string) (*Mesh, error) {
	axes, err := ParseMeshAxes(s)
	if err != nil {
		return nil, err
	}
	return NewMesh(backend, axes...)
}

// ParseMeshAxes reads the axes of a mesh written as "data=2,model=2" (or a
// bare number N, which means data=N), without making it: a command line
// checks them before it creates a backend.
func ParseMeshAxes(s string) ([]MeshAxis, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return []MeshAxis{{AxisData, n}}, nil
	}
	var axes []MeshAxis
	for _, part := range strings.Split(s, ",") {
		name, size, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(size))
		if !ok || err != nil || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("mesh %q: want axes as name=size separated by commas, e.g. data=2,model=2", s)
		}
		axes = append(axes, MeshAxis{strings.TrimSpace(name), n})
	}
	return axes, nil
}

// NumDevices returns the number of devices the mesh spans.
func (m *Mesh) NumDevices() int { return m.devices.NumDevices() }

// Axes returns the mesh's axes in order.
func (m *Mesh) Axes() []MeshAxis { return append([]MeshAxis(nil), m.axes...) }

// Size returns how many devices lie along axis name, 0 when the mesh has no
// such axis.
func (m *Mesh) Size(name string) int {
	for _, a := range m.axes {
		if a.Name == name {
			return a.Size
		}
	}
	return 0
}

// Has reports whether the mesh has an axis name.
func (m *Mesh) Has(name string) bool { return m.Size(name) > 0 }

// DeviceMesh returns the mesh as GoMLX's distributed.DeviceMesh, which
// sharding specs and compiled programs refer to.
func (m *Mesh) DeviceMesh() *distributed.DeviceMesh { return m.devices }

// Coordinates returns device's position along each axis of the mesh.
func (m *Mesh) Coordinates(device int) []int {
	coords := make([]int, len(m.axes))
	for i := len(m.axes) - 1; i >= 0; i-- {
		coords[i] = device % m.axes[i].Size
		device /= m.axes[i].Size
	}
	return coords
}

// String returns the mesh as "{data: 2, model: 2}".
func (m *Mesh) String() string { return formatAxes(m.axes) }

func formatAxes(axes []MeshAxis) string {
	parts := make([]string, len(axes))
	for i, a := range axes {
		parts[i] = fmt.Sprintf("%s: %d", a.Name, a.Size)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
