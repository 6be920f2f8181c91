package modeling_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// goldenDecoders loads the golden GPT-2, LLaMA (grouped-query heads) and
// Mistral (sliding window of 3) models on the engine under test.
func goldenDecoders(t *testing.T) map[string]*modeling.Decoder {
	backend := golden.Backend(t)
	out := map[string]*modeling.Decoder{}
	g, err := gpt2.Load(filepath.Join(golden.Dir("gpt2"), "model"), backend)
	if err != nil {
		t.Fatal(err)
	}
	out["gpt2"] = g.Decoder
	for _, family := range []string{"llama", "mistral"} {
		m, err := llama.Load(filepath.Join(golden.Dir(family), "model"), backend)
		if err != nil {
			t.Fatal(err)
		}
		out[family] = m.Decoder
	}
	return out
}

// leftPadded is the golden batch of family left-padded by 3 (ids, mask,
// positions as the reference gave them).
func leftPadded(t *testing.T, family string) modeling.Batch {
	g := golden.Load(t, family)
	return modeling.Batch{IDs: golden.IDs(t, g, "leftpad.input_ids"), AttentionMask: golden.IDs(t, g, "leftpad.attention_mask"),
		PositionIDs: golden.IDs(t, g, "leftpad.position_ids")}
}

// maskedDiff is the largest |a - b| over the real tokens of mask (the
// last axis of a and b is per token).
func maskedDiff(t *testing.T, a, b *tensors.Tensor, mask [][]int32) float64 {
	x, y := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
	per := len(x) / (len(mask) * len(mask[0]))
	d := 0.0
	for i := range x {
		tok := i / per
		if mask[tok/len(mask[0])][tok%len(mask[0])] != 0 {
			d = max(d, math.Abs(float64(x[i]-y[i])))
		}
	}
	return d
}

// TestBlockedAttentionFamilies: with blocks of 4 on the golden models'
// 9-token left-padded batches (so several blocks, skipped ones among them),
// blocked attention gives the plain attention's logits (1e-5) and the
// gradients of a loss over the real tokens with respect to every weight
// (1e-4): GPT-2, LLaMA with grouped-query heads, Mistral with its window.
// Block-sparse attention (blocks of 2, local, global and random blocks)
// equals dense attention under the same mask.
func TestBlockedAttentionFamilies(t *testing.T) {
	sparse := &modeling.SparsePattern{Block: 2, Local: 1, Global: 1, Random: 1, Seed: 3}
	for family, d := range goldenDecoders(t) {
		b := leftPadded(t, family)
		for _, tc := range []struct {
			name       string
			ref, under modeling.AttentionSettings
		}{
			{"blocked", modeling.AttentionSettings{Impl: modeling.AttentionPlain}, modeling.AttentionSettings{Impl: modeling.AttentionBlocked, Block: 4}},
			{"sparse", modeling.AttentionSettings{Impl: modeling.AttentionPlain, Sparse: sparse}, modeling.AttentionSettings{Impl: modeling.AttentionBlocked, Sparse: sparse}},
		} {
			t.Run(family+"/"+tc.name, func(t *testing.T) {
				ref, refGrads := forwardAndGradients(t, d, tc.ref, b)
				got, gotGrads := forwardAndGradients(t, d, tc.under, b)
				if diff := maskedDiff(t, got, ref, b.AttentionMask); diff > 1e-5 {
					t.Errorf("logits: max |%s - dense| = %.3g", tc.name, diff)
				}
				worst, name, scale := 0.0, "", 0.0
				for n, g := range refGrads {
					for _, x := range tensors.MustCopyFlatData[float32](g) {
						scale = max(scale, math.Abs(float64(x)))
					}
					diff, _, err := golden.MaxAbsDiff(gotGrads[n], g)
					if err != nil {
						t.Fatal(err)
					}
					if diff > worst {
						worst, name = diff, n
					}
				}
				if worst > 1e-4 {
					t.Errorf("gradients: max |%s - dense| = %.3g (%s)", tc.name, worst, name)
				}
				t.Logf("%d weights' gradients (largest %.3g) agree to %.2g", len(refGrads), scale, worst)
			})
		}
	}
}

// forwardAndGradients runs d's forward pass over b with attention a, and
// the gradient of sum(logits · r) over b's real tokens (r random, fixed)
// with respect to each weight.
func forwardAndGradients(t *testing.T, d *modeling.Decoder, a modeling.AttentionSettings, b modeling.Batch) (*tensors.Tensor, map[string]*tensors.Tensor) {
	t.Helper()
	d.Attention = a
	out, err := d.Forward(b, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows, n := len(b.IDs), len(b.IDs[0])
	vocab := out.Logits.Shape().Dimensions[2]
	rng := rand.New(rand.NewPCG(1, 1))
	r := make([]float32, rows*n*vocab)
	for i := range r {
		if b.AttentionMask[i/vocab/n][i/vocab%n] != 0 {
			r[i] = float32(0.1 * rng.NormFloat64()) // gradients of order 1-10: 1e-4 is about 1e-5 relative
		}
	}
	names := d.Params().Names()
	e, err := d.Params().NewExec(d.Backend, func(in []*Node) []*Node {
		logits, _, _ := d.ForwardGraph(in[0], in[1], in[2])
		loss := ReduceAllSum(Mul(logits, in[3]))
		ws := make([]*Node, len(names))
		for i, name := range names {
			ws[i] = d.Params().Raw(in[0].Graph(), name)
		}
		return Gradient(loss, ws...)
	})
	if err != nil {
		t.Fatal(err)
	}
	flat := func(m [][]int32) *tensors.Tensor {
		var f []int32
		for _, row := range m {
			f = append(f, row...)
		}
		return tensors.FromFlatDataAndDimensions(f, rows, n)
	}
	res, err := e.Call(flat(b.IDs), flat(b.PositionIDs), flat(b.AttentionMask), tensors.FromFlatDataAndDimensions(r, rows, n, vocab))
	if err != nil {
		t.Fatal(err)
	}
	grads := map[string]*tensors.Tensor{}
	for i, name := range names {
		grads[name] = res[i]
	}
	return out.Logits, grads
}
