package modeling

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/xla"
)

// tiedNetwork is a two-layer network with a tied embedding and head, every
// kind of declaration a family makes.
func tiedNetwork(s Scope, ids *Node) *Node {
	x := s.Embed(ids, "wte.weight", Embedding, 10, 4)
	for i := range 2 {
		l := s.At("h.%d", i)
		x = l.LayerNorm(x, "ln", 1e-5)
		x = Add(x, l.Conv1D(x, "c_proj", RowParallel, 4))
		x = l.RMSNorm(l.Linear(x, "up", ColumnParallel, 4, true), "norm", 1e-6)
	}
	return Linear(x, s.Weight("wte.weight", LMHead, 10, 4), nil)
}

func TestDeclareWeights(t *testing.T) {
	specs, err := DeclareWeights(func(s Scope) {
		tiedNetwork(s, Zeros(s.Graph(), shapes.Make(dtypes.Int32, 1, 3)))
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sp := range specs {
		got = append(got, fmt.Sprintf("%s %v %s %v", sp.Name, sp.Dims, sp.Role, sp.Transpose))
	}
	want := []string{
		"wte.weight [10 4] lm-head false", // declared as the embedding, then as the tied head
		"h.0.ln.weight [4] whole false", "h.0.ln.bias [4] whole false",
		"h.0.c_proj.weight [4 4] row-parallel true", "h.0.c_proj.bias [4] whole false",
		"h.0.up.weight [4 4] column-parallel false", "h.0.up.bias [4] column-bias false",
		"h.0.norm.weight [4] whole false",
		"h.1.ln.weight [4] whole false", "h.1.ln.bias [4] whole false",
		"h.1.c_proj.weight [4 4] row-parallel true", "h.1.c_proj.bias [4] whole false",
		"h.1.up.weight [4 4] column-parallel false", "h.1.up.bias [4] column-bias false",
		"h.1.norm.weight [4] whole false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("declared:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The declared weights load, and the same network then runs on them.
	b, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	p, err := LoadSpecsTo(b, RandomWeights(specs, 1, 0.5), specs, Checkpoint{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := p.NewExec(b, func(in []*Node) []*Node { return []*Node{tiedNetwork(NewScope(in[0].Graph(), p, false), in[0])} })
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Call(tensors.FromFlatDataAndDimensions([]int32{1, 2, 3}, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if dims := out[0].Shape().Dimensions; !slices.Equal(dims, []int{1, 3, 10}) {
		t.Errorf("logits are %v, want [1 3 10]", dims)
	}
}

func TestDeclareWeightsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network func(s Scope)
		want    string
	}{
		{"a tied weight of two shapes", func(s Scope) {
			s.Weight("w", Embedding, 3, 4)
			s.Weight("w", LMHead, 4, 3)
		}, `weight "w" declared as [3 4] and as [4 3]`},
		{"a weight of two roles", func(s Scope) {
			s.Weight("w", ColumnParallel, 3, 4)
			s.Weight("w", RowParallel, 3, 4)
		}, `weight "w" declared as column-parallel and as row-parallel`},
		{"shapes that do not fit", func(s Scope) {
			x := Zeros(s.Graph(), shapes.Make(dtypes.Float32, 2, 5))
			Add(s.Linear(x, "a", Whole, 3, false), s.Linear(x, "b", Whole, 4, false))
		}, "the network does not build"},
	} {
		_, err := DeclareWeights(tc.network)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// A network that uses a loaded weight with another shape than it declared
// fails with an error that names the weight.
func TestScopeWrongShape(t *testing.T) {
	b, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	p := NewParams()
	if err := p.Set("w", tensors.FromFlatDataAndDimensions(make([]float32, 6), 2, 3)); err != nil {
		t.Fatal(err)
	}
	e, err := p.NewExec(b, func(in []*Node) []*Node {
		return []*Node{NewScope(in[0].Graph(), p, false).Weight("w", Whole, 3, 2)}
	})
	if err == nil {
		_, err = e.Call(tensors.FromScalar(float32(0)))
	}
	if err == nil || !strings.Contains(err.Error(), `weight "w" is [2 3], the network uses it as [3 2]`) {
		t.Errorf("got error %v, want one naming weight \"w\" and both shapes", err)
	}
}
