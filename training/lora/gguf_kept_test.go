package lora_test

import (
	"bytes"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX graphs read best unqualified
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/training/lora"
)

// TestQLoRAOnKeptGGUF trains LoRA adapters on the real SmolLM2-135M Q4_1
// file loaded with its blocks kept as codes (QLoRA on llama.cpp's own
// quantization): the loss falls over a few steps on one sentence, and the
// base's codes and scales are left exactly as they were.
func TestQLoRAOnKeptGGUF(t *testing.T) {
	m, err := llama.LoadGGUF(assets.RequireModel(t, assets.SmolLM2), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	params := m.Params()
	kept := map[string][]byte{}
	for _, name := range params.Names() {
		if dt := params.Variable(name).Shape().DType; dt == dtypes.Int8 || dt == dtypes.Uint8 || dt == dtypes.Float16 {
			kept[name] = rawBytes(t, params, name)
		}
	}
	if len(kept) == 0 {
		t.Fatal("the GGUF model holds no codes")
	}
	if _, err := lora.Apply(params, lora.Config{Rank: 4, Alpha: 8, Targets: []string{"q_proj", "v_proj"}, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	loss := func(g *Graph, batch []*Node) *Node {
		x, y := batch[0], batch[1]
		pos := Iota(g, shapes.Make(dtypes.Int32, x.Shape().Dimensions...), 1)
		logits, _, _ := m.Decoder.ForwardGraph(x, pos, nil)
		return training.CrossEntropy(logits, y)
	}
	opt := training.DefaultAdamW()
	opt.WeightDecay = 0
	tr, err := training.NewTrainer(params, m.Decoder.Backend, loss, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{1, 504, 3458, 282, 4649, 314, 7042, 30, 378, 3458, 282, 4649, 314, 7042, 30, 2}
	n := len(ids) - 1
	x, y := tensors.FromFlatDataAndDimensions(ids[:n], 1, n), tensors.FromFlatDataAndDimensions(ids[1:], 1, n)
	var losses []float64
	for range 4 {
		l, _, err := tr.Step(1e-2, x, y)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	t.Logf("losses %.4f", losses)
	if !(losses[3] < losses[0]-0.1) {
		t.Errorf("loss did not fall: %v", losses)
	}
	for name, before := range kept {
		if !bytes.Equal(rawBytes(t, params, name), before) {
			t.Errorf("kept tensor %s changed", name)
		}
	}
}

// rawBytes returns a copy of weight name's stored bytes.
func rawBytes(t *testing.T, params *modeling.Params, name string) []byte {
	t.Helper()
	v, err := params.Variable(name).Value()
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := v.ConstBytes(func(data []byte) { out = bytes.Clone(data) }); err != nil {
		t.Fatal(err)
	}
	return out
}
