package training

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// lossCase is one case of models/testdata/golden/losses.json
// (scripts/reference/losses.py).
type lossCase struct {
	Name, Kind, Model string
	InputIDs          [][]int32 `json:"input_ids"`
	TokenTypeIDs      [][]int32 `json:"token_type_ids"`
	AttentionMask     [][]int32 `json:"attention_mask"`
	Labels            any       `json:"labels"`
	Loss              float64   `json:"loss"`
}

func matrix(rows [][]int32) *tensors.Tensor {
	var flat []int32
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(rows), len(rows[0]))
}

func int32Rows(v any) [][]int32 {
	var rows [][]int32
	for _, r := range v.([]any) {
		var row []int32
		for _, x := range r.([]any) {
			row = append(row, int32(x.(float64)))
		}
		rows = append(rows, row)
	}
	return rows
}

// The training losses against the losses Hugging Face's classes compute
// from labels: GPT2LMHeadModel and LlamaForCausalLM (labels shifted, -100
// ignored), BertForMaskedLM, BertForSequenceClassification.
func TestLossesMatchHuggingFace(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(golden.Dir(""), "losses.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with make reference)", err)
	}
	var file struct {
		Transformers string     `json:"transformers"`
		Cases        []lossCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	backend := golden.Backend(t)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			dir := filepath.Join(golden.Dir(""), c.Model)
			var params *modeling.Params
			var loss LossFunc
			var batch []*tensors.Tensor
			switch c.Kind {
			case "causal-lm":
				var d *modeling.Decoder
				if c.Model == "gpt2/model" {
					m, err := gpt2.Load(dir, backend)
					if err != nil {
						t.Fatal(err)
					}
					d = m.Decoder
				} else {
					m, err := llama.Load(dir, backend)
					if err != nil {
						t.Fatal(err)
					}
					d = m.Decoder
				}
				params = d.Params()
				// Hugging Face shifts the labels: position t predicts label t+1.
				loss = func(g *Graph, b []*Node) *Node {
					logits, _, _ := d.ForwardGraph(b[0], Iota(g, shapes.Make(dtypes.Int32, b[0].Shape().Dimensions...), 1), nil)
					return MaskedCrossEntropy(logits, b[1])
				}
				labels := int32Rows(c.Labels)
				var x, y [][]int32
				for i, row := range c.InputIDs {
					x, y = append(x, row[:len(row)-1]), append(y, labels[i][1:])
				}
				batch = []*tensors.Tensor{matrix(x), matrix(y)}
			case "masked-lm", "sequence-classification":
				m, err := bert.Load(dir, backend)
				if err != nil {
					t.Fatal(err)
				}
				params = m.Params()
				var labels *tensors.Tensor
				if c.Kind == "masked-lm" {
					loss, labels = MaskedLMLoss(m), matrix(int32Rows(c.Labels))
				} else {
					var flat []int32 // one label per row
					for _, v := range c.Labels.([]any) {
						flat = append(flat, int32(v.(float64)))
					}
					loss, labels = SequenceClassificationLoss(m), tensors.FromFlatDataAndDimensions(flat, len(flat))
				}
				batch = []*tensors.Tensor{matrix(c.InputIDs), labels, matrix(c.TokenTypeIDs), matrix(c.AttentionMask)}
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
			tr, err := NewTrainer(params, backend, loss, DefaultAdamW(), 1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Eval(batch...)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(got - c.Loss); d > 1e-5*math.Max(1, math.Abs(c.Loss)) {
				t.Errorf("loss %.7f, transformers %s gives %.7f", got, file.Transformers, c.Loss)
			}
			// And it trains: a few steps lower it.
			for range 5 {
				if _, _, err := tr.Step(1e-2, batch...); err != nil {
					t.Fatal(err)
				}
			}
			if after, _ := tr.Eval(batch...); !(after < got) {
				t.Errorf("5 steps at lr 1e-2 took the loss from %.5f to %.5f", got, after)
			}
		})
	}
}

// CausalLMLoss is MaskedCrossEntropy of the shifted batch when no target
// is ignored.
func TestCausalLMLossIsTheMaskedOneWithoutIgnoredTargets(t *testing.T) {
	backend := golden.Backend(t)
	m, err := gpt2.Load(filepath.Join(golden.Dir("gpt2"), "model"), backend)
	if err != nil {
		t.Fatal(err)
	}
	x := matrix([][]int32{{1, 2, 3, 4}, {5, 6, 7, 8}})
	y := matrix([][]int32{{2, 3, 4, 5}, {6, 7, 8, 9}})
	plain, err := NewTrainer(m.Params(), backend, CausalLMLoss(m.Decoder), DefaultAdamW(), 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := plain.Eval(x, y)
	if err != nil {
		t.Fatal(err)
	}
	masked := func(g *Graph, b []*Node) *Node {
		logits, _, _ := m.ForwardGraph(b[0], Iota(g, shapes.Make(dtypes.Int32, b[0].Shape().Dimensions...), 1), nil)
		return MaskedCrossEntropy(logits, b[1])
	}
	plain.Loss = masked
	plain.evalExec = nil
	b, err := plain.Eval(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a-b) > 1e-6 {
		t.Errorf("CausalLMLoss %.7f, MaskedCrossEntropy %.7f", a, b)
	}
}
