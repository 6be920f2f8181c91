package models

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/internal/shardtest"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// hooksGolden reads scripts/reference/hooks.py's PyTorch-hook goldens for
// family.
func hooksGolden(t *testing.T, family string) *weights.Set {
	t.Helper()
	set, err := weights.ReadSafetensors(filepath.Join(golden.Dir("hooks"), family+".safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/hooks.py)", err)
	}
	return set
}

// forwardFunc runs a family's golden model: its output, and the tensor the
// goldens call logits (BERT's: the sequence output).
type forwardFunc func(ids [][]int32, hooks *modeling.Hooks) (*modeling.Output, *tensors.Tensor, error)

// goldenForward loads family's golden model on backend.
func goldenForward(t *testing.T, family string, backend compute.Backend) forwardFunc {
	t.Helper()
	dir := filepath.Join(golden.Dir(family), "model")
	if family == "bert" {
		m, err := bert.Load(dir, backend)
		if err != nil {
			t.Fatal(err)
		}
		return func(ids [][]int32, hooks *modeling.Hooks) (*modeling.Output, *tensors.Tensor, error) {
			out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{Hooks: hooks})
			if err != nil {
				return nil, nil, err
			}
			return &out.Output, out.Sequence, nil
		}
	}
	lm, err := LoadCausalLM(dir, backend)
	if err != nil {
		t.Fatal(err)
	}
	return causalForward(lm)
}

// causalForward runs lm with hooks.
func causalForward(lm CausalLM) forwardFunc {
	return func(ids [][]int32, hooks *modeling.Hooks) (*modeling.Output, *tensors.Tensor, error) {
		out, err := lm.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{Hooks: hooks})
		if err != nil {
			return nil, nil, err
		}
		return out, out.Logits, nil
	}
}

// TestHooksMatchPyTorch compares the activations cached at every hook
// point, and the logits after a patch, an ablation and a steering vector,
// with PyTorch forward hooks on GPT2LMHeadModel, LlamaForCausalLM and
// BertModel (scripts/reference/hooks.py).
func TestHooksMatchPyTorch(t *testing.T) {
	backend := golden.Backend(t)
	for _, family := range []string{"gpt2", "llama", "bert"} {
		t.Run(family, func(t *testing.T) {
			ref := hooksGolden(t, family)
			var steps func([][]int32, *modeling.Hooks) *tensors.Tensor
			if family != "bert" {
				lm, err := LoadCausalLM(filepath.Join(golden.Dir(family), "model"), backend)
				if err != nil {
					t.Fatal(err)
				}
				steps = steppedLogits(t, lm)
			}
			checkHooks(t, ref, goldenForward(t, family, backend), steps, golden.Tolerance)
		})
	}
}

// checkHooks runs the checks of TestHooksMatchPyTorch on forward against
// ref, to tol; steps, when not nil, runs a decoder's KV-cache steps, whose
// logits with the steering vector on every step must be the same.
func checkHooks(t *testing.T, ref *weights.Set, forward forwardFunc, steps func([][]int32, *modeling.Hooks) *tensors.Tensor, tol float64) {
	t.Helper()
	ids := golden.IDs(t, ref, "input_ids")
	a, b := ids[:1], ids[1:2]
	var names []string
	for _, n := range ref.Names() {
		if name, ok := strings.CutPrefix(n, "cache."); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out, logits, err := forward(a, &modeling.Hooks{Cache: names})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		golden.Check(t, ref, "cache."+name, out.Cache[name], tol)
	}
	golden.Check(t, ref, "logits", logits, tol)

	// Patch block 1's output at position 3 with prompt B's.
	outB, _, err := forward(b, &modeling.Hooks{Cache: []string{"blocks.1.resid_post"}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, iv modeling.Intervention) {
		t.Helper()
		_, got, err := forward(a, &modeling.Hooks{Interventions: []modeling.Intervention{iv}})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		golden.Check(t, ref, what, got, tol)
	}
	check("patch.logits", modeling.Intervention{Hook: "blocks.1.resid_post", Positions: []int{3}, Set: outB.Cache["blocks.1.resid_post"]})
	zeros := tensors.FromShape(out.Cache["blocks.0.attn_out"].Shape())
	check("ablate.logits", modeling.Intervention{Hook: "blocks.0.attn_out", Positions: []int{2, 5}, Set: zeros})
	steer := modeling.Intervention{Hook: "blocks.0.resid_post", Add: golden.Float(t, ref, "steer.vector")}
	check("steer.logits", steer)
	if steps != nil {
		golden.Check(t, ref, "steer.logits", steps(a, &modeling.Hooks{Interventions: []modeling.Intervention{steer}}), tol)
	}
}

// steppedLogits runs ids through lm's KV cache with hooks on every step (a
// prefix of 4 tokens, then one token at a time) and returns the logits of
// every position [1, T, vocab], which equal a forward pass's with the same
// position-free hooks.
func steppedLogits(t *testing.T, lm CausalLM) func(ids [][]int32, hooks *modeling.Hooks) *tensors.Tensor {
	return func(ids [][]int32, hooks *modeling.Hooks) *tensors.Tensor {
		t.Helper()
		c, err := lm.NewCache(1, len(ids[0]))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Free()
		c.Hooks = hooks
		var flat []float32
		var vocab int
		for start := 0; start < len(ids[0]); {
			end := max(start+1, min(4, len(ids[0])))
			logits, err := lm.Step(c, [][]int32{ids[0][start:end]}, nil)
			if err != nil {
				t.Fatal(err)
			}
			vocab = logits.Shape().Dimensions[2]
			flat = append(flat, tensors.MustCopyFlatData[float32](logits)...)
			start = end
		}
		return tensors.FromFlatDataAndDimensions(flat, 1, len(ids[0]), vocab)
	}
}

// TestHookErrors checks that a hook point the network lacks is an error
// listing those it has, and that a malformed intervention is refused.
func TestHookErrors(t *testing.T) {
	forward := goldenForward(t, "llama", golden.Backend(t))
	ids := [][]int32{{1, 2, 3, 4}}
	for _, c := range []struct {
		name  string
		hooks modeling.Hooks
		want  []string
	}{
		{"unknown block", modeling.Hooks{Cache: []string{"blocks.9.resid_post"}},
			[]string{`hook "blocks.9.resid_post" does not exist`, "embed, final_norm, blocks.{0…1}.{attn_out, attn_pattern, mlp_out, resid_post, resid_pre}"}},
		{"unknown point", modeling.Hooks{Interventions: []modeling.Intervention{{Hook: "blocks.0.mlp_in", Add: tensors.FromValue([]float32{1})}}},
			[]string{`hook "blocks.0.mlp_in" does not exist`}},
		{"Set and Add", modeling.Hooks{Interventions: []modeling.Intervention{{Hook: "embed"}}}, []string{"give Set or Add"}},
		{"position outside", modeling.Hooks{Interventions: []modeling.Intervention{{Hook: "embed", Positions: []int{4}, Add: tensors.FromValue([]float32{1})}}},
			[]string{"position 4 is outside the sequence's 4"}},
		{"wrong Set shape", modeling.Hooks{Interventions: []modeling.Intervention{{Hook: "embed", Set: tensors.FromValue([][]float32{{1}})}}},
			[]string{`hook "embed": Set is [1 1], the activation is [1 4 32]`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := forward(ids, &c.hooks)
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to hold %q", err, w)
				}
			}
		})
	}
}

// TestShardedHooks runs the LLaMA hook goldens on a model tensor-parallel
// over four host devices of XLA's CPU plugin: caches, patches and steering
// (in the forward pass and in the KV-cache steps) are options of the same
// sharded programs.
func TestShardedHooks(t *testing.T) {
	b := shardtest.HostDevices(t, 4)
	lm, err := LoadCausalLM(filepath.Join(golden.Dir("llama"), "model"), b)
	if err != nil {
		t.Fatal(err)
	}
	layout := shardtest.Layouts4[3]
	if err := lm.Params().Shard(layout.Sharding(t, b)); err != nil {
		t.Fatal(err)
	}
	checkHooks(t, hooksGolden(t, "llama"), causalForward(lm), steppedLogits(t, lm), golden.Tolerance)
}

// TestLogitLens compares each layer's logit lens with transformers' head
// and final norm applied to that layer's input (output_hidden_states), on
// GPT-2 and LLaMA; the last lens is the model's logits.
func TestLogitLens(t *testing.T) {
	backend := golden.Backend(t)
	for _, family := range []string{"gpt2", "llama"} {
		t.Run(family, func(t *testing.T) {
			ref := hooksGolden(t, family)
			lm, err := LoadCausalLM(filepath.Join(golden.Dir(family), "model"), backend)
			if err != nil {
				t.Fatal(err)
			}
			lens, err := LogitLens(lm, modeling.Batch{IDs: golden.IDs(t, ref, "input_ids")[:1]})
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range lens[:len(lens)-1] {
				golden.Check(t, ref, fmt.Sprintf("lens.%d", i), l, golden.Tolerance)
			}
			golden.Check(t, ref, "logits", lens[len(lens)-1], golden.Tolerance)
		})
	}
}
