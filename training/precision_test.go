package training

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// Mixed precision against float32: a small character GPT trained 200 steps
// from the same weights on the same batches ends within a stated tolerance
// of float32's loss, in every precision the engine runs; the others are
// refused with an error that says so.
func TestMixedPrecisionTracksFloat32(t *testing.T) {
	backend := golden.Backend(t)
	text := strings.Repeat("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "+
		"the slings and arrows of outrageous fortune, or to take arms against a sea of troubles. ", 30)
	v := NewCharVocab(text)
	ids, _ := v.Encode(text)
	data := SplitTokens(ids)
	// Tolerances on the loss after 200 steps (about 0.6 nats then: the
	// text repeats): bfloat16 keeps 8 bits of mantissa, float16 11.
	tolerance := map[dtypes.DType]float64{dtypes.BFloat16: 0.05, dtypes.Float16: 0.02}
	train := func(dtype dtypes.DType) (float64, *Trainer, error) {
		m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: v.Size(), NPositions: 32, NEmbd: 32, NLayer: 2, NHead: 4}, 3, backend)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(m.Params(), backend, CausalLMLoss(m.Decoder), AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetPrecision(dtype); err != nil {
			return 0, nil, err
		}
		rng := rand.New(rand.NewPCG(1, 1))
		for range 200 {
			x, y, err := data.Batch(rng, "train", 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := tr.Step(3e-3, x, y); err != nil {
				t.Fatal(err)
			}
		}
		x, y, _ := data.Batch(rand.New(rand.NewPCG(2, 2)), "val", 16, 32)
		tr.precision = dtypes.Float32 // the same float32 evaluation for every arm
		tr.evalExec = nil
		l, err := tr.Eval(x, y)
		if err != nil {
			t.Fatal(err)
		}
		return l, tr, nil
	}
	want, _, _ := train(dtypes.Float32)
	caps := backend.Capabilities().DTypes
	for _, dtype := range []dtypes.DType{dtypes.BFloat16, dtypes.Float16} {
		got, tr, err := train(dtype)
		if !caps[dtype] {
			if err == nil || !strings.Contains(err.Error(), "cannot run "+dtype.String()) {
				t.Errorf("%s on %s, which lists no %s: got error %v, want a refusal that says so", dtype, xla.SpecOf(backend), dtype, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", dtype, err)
		}
		t.Logf("%s on %s: loss after 200 steps %.4f, float32 %.4f", dtype, xla.SpecOf(backend), got, want)
		if math.Abs(got-want) > tolerance[dtype] {
			t.Errorf("%s: loss after 200 steps %.4f, float32's %.4f: more than %g apart", dtype, got, want, tolerance[dtype])
		}
		if dtype == dtypes.Float16 && !(tr.LossScale() > 0) {
			t.Errorf("float16: loss scale %v after training", tr.LossScale())
		}
	}
}

// Float16 training skips a step whose gradients overflow, leaving the
// weights as they were, and halves the loss scale.
func TestLossScaleSkipsOverflowingSteps(t *testing.T) {
	backend := golden.Backend(t)
	params := modeling.NewParams()
	params.Set("w", tensors.FromFlatDataAndDimensions([]float32{0.5, -1}, 2))
	huge := false
	loss := func(g *Graph, b []*Node) *Node {
		l := ReduceAllSum(Square(Sub(params.Node(g, "w"), b[0])))
		if huge {
			l = MulScalar(l, 1e35) // times the scale (2^16): past float32's range
		}
		return l
	}
	tr, err := NewTrainer(params, backend, loss, DefaultAdamW(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetPrecision(dtypes.Float16); !backend.Capabilities().DTypes[dtypes.Float16] {
		if err == nil {
			t.Fatalf("%s lists no float16, yet SetPrecision(float16) accepted it", xla.SpecOf(backend))
		}
		return // the refusal is the behaviour on this engine
	} else if err != nil {
		t.Fatal(err)
	}
	target := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2) }
	if _, _, err := tr.Step(0.1, target()); err != nil {
		t.Fatal(err)
	}
	if s := tr.LossScale(); s != initialLossScale {
		t.Errorf("after a good step the loss scale is %v, want %v", s, initialLossScale)
	}
	w0, _ := params.Variable("w").Value()
	before := tensors.MustCopyFlatData[float32](w0)
	huge = true
	tr.trainExec = nil // rebuild with the overflowing loss
	if _, _, err := tr.Step(0.1, target()); err != nil {
		t.Fatal(err)
	}
	w1, _ := params.Variable("w").Value()
	after := tensors.MustCopyFlatData[float32](w1)
	if before[0] != after[0] || before[1] != after[1] {
		t.Errorf("an overflowing step changed the weights from %v to %v", before, after)
	}
	if s := tr.LossScale(); s != initialLossScale/2 {
		t.Errorf("after an overflowing step the loss scale is %v, want %v", s, initialLossScale/2)
	}
}

func TestBadPrecision(t *testing.T) {
	backend := golden.Backend(t)
	params := modeling.NewParams()
	params.Set("w", tensors.FromFlatDataAndDimensions([]float32{1}, 1))
	tr, err := NewTrainer(params, backend, nil, DefaultAdamW(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetPrecision(dtypes.Int8); err == nil || !strings.Contains(err.Error(), "want float32, bfloat16 or float16") {
		t.Errorf("int8: got error %v", err)
	}
}
