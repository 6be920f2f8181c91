package modeling

import (
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/xla"
)

// MeshAxes are the mesh axes the strategies use: "data" splits the batch
// (and, under full sharding and ZeRO, weights or their optimizer state),
// "model" the tensor-parallel weights.
var MeshAxes = []string{xla.AxisData, xla.AxisModel}

// CheckLayout checks, before any backend or weight exists, that strategy
// can run on a mesh of axes with batches of batchRows rows (0: not
// checked): every axis is one the strategies use, appears once and has at
// least one device; the strategy's own axis is there ("data" for data
// parallelism, full sharding and ZeRO, "model" for tensor parallelism); and
// "data" divides the batch. Each error names the axis, the strategy or the
// batch. Whether an axis divides the weights is checked by Params.Shard,
// which names the weight.
func CheckLayout(axes []xla.MeshAxis, strategy Strategy, batchRows int) error {
	seen := map[string]bool{}
	for _, a := range axes {
		known := false
		for _, name := range MeshAxes {
			known = known || a.Name == name
		}
		switch {
		case !known:
			return fmt.Errorf("mesh axis %q is not one the strategies use (%s)", a.Name, strings.Join(MeshAxes, ", "))
		case seen[a.Name]:
			return fmt.Errorf("mesh axis %q appears twice", a.Name)
		case a.Size < 1:
			return fmt.Errorf("mesh axis %q has %d devices; want at least 1", a.Name, a.Size)
		}
		seen[a.Name] = true
	}
	need := xla.AxisData
	switch strategy {
	case TensorParallel:
		need = xla.AxisModel
	case DataParallel, FullyShard, ZeRO1, ZeRO2:
	default:
		return fmt.Errorf("unknown sharding strategy %d", strategy)
	}
	if !seen[need] {
		return fmt.Errorf("strategy %s needs a %q axis in the mesh (e.g. %s=2)", strategy, need, need)
	}
	for _, a := range axes {
		if a.Name == xla.AxisData && batchRows > 0 && batchRows%a.Size != 0 {
			return fmt.Errorf("mesh axis %q of %d devices does not divide the batch of %d rows (pick a batch size that it divides)", a.Name, a.Size, batchRows)
		}
	}
	return nil
}
