package training

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/mixtral"
)

// shiftLabels turns Hugging Face's labels into next-token targets: the
// label of position t+1 at t, and -100 (ignored) at the end.
func shiftLabels(labels [][]int32) [][]int32 {
	out := make([][]int32, len(labels))
	for i, row := range labels {
		out[i] = append(append([]int32(nil), row[1:]...), -100)
	}
	return out
}

// MixtralForCausalLM's loss with labels, an attention mask and
// output_router_logits=True (the cross-entropy plus router_aux_loss_coef ×
// its load-balancing loss), the cross-entropy alone, and the
// load-balancing loss alone with and without the mask, from
// scripts/reference/goldens_mixtral.py; then a few steps lower the loss.
func TestMixtralLossMatchesHuggingFace(t *testing.T) {
	g := golden.Load(t, "mixtral")
	backend := golden.Backend(t)
	m, err := mixtral.Load(filepath.Join(golden.Dir("mixtral"), "model"), backend)
	if err != nil {
		t.Fatal(err)
	}
	coef := *m.Config.RouterAuxLossCoef
	noAux := func(g *Graph, _ *Node) *Node { return ScalarZero(g, dtypes.Float32) }
	auxOnly := func(g *Graph, b []*Node) *Node {
		var mask *Node
		if len(b) > 2 {
			mask = b[2]
		}
		m.ForwardGraph(b[0], Iota(g, shapes.Make(dtypes.Int32, b[0].Shape().Dimensions...), 1), mask)
		return MulScalar(m.RouterAuxLoss(g, mask), 1/coef)
	}
	ids := matrix(golden.IDs(t, g, "input_ids"))
	targets := matrix(shiftLabels(golden.IDs(t, g, "loss.labels")))
	mask := matrix(golden.IDs(t, g, "loss.attention_mask"))
	for _, c := range []struct {
		name, want string
		loss       LossFunc
		batch      []*tensors.Tensor
	}{
		{"loss with the router's", "loss.value", CausalLMLossWithAux(m.Decoder, m.RouterAuxLoss), []*tensors.Tensor{ids, targets, mask}},
		{"loss without it", "loss.without_aux", CausalLMLossWithAux(m.Decoder, noAux), []*tensors.Tensor{ids, targets, mask}},
		{"load balancing, padding left out", "loss.aux", auxOnly, []*tensors.Tensor{ids, targets, mask}},
		{"load balancing", "aux.loss", auxOnly, []*tensors.Tensor{ids, targets}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := float64(tensors.MustCopyFlatData[float32](golden.Float(t, g, c.want))[0])
			tr, err := NewTrainer(m.Params(), backend, c.loss, DefaultAdamW(), 1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Eval(c.batch...)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(got - want); d > 1e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("%.7f, transformers gives %.7f", got, want)
			}
			t.Logf("%.7f, transformers %.7f", got, want)
		})
	}
	// It trains: a few steps lower the loss, load-balancing included.
	tr, err := NewTrainer(m.Params(), backend, CausalLMLossWithAux(m.Decoder, m.RouterAuxLoss), DefaultAdamW(), 1)
	if err != nil {
		t.Fatal(err)
	}
	before, err := tr.Eval(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, _, err := tr.Step(1e-2, ids, targets, mask); err != nil {
			t.Fatal(err)
		}
	}
	after, err := tr.Eval(ids, targets, mask)
	if err != nil || !(after < before) {
		t.Errorf("5 steps at lr 1e-2 took the loss from %.5f to %.5f (%v)", before, after, err)
	}
	t.Logf("5 steps: loss %.5f -> %.5f", before, after)
}
