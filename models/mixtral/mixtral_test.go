package mixtral

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// checkFamily compares a model with the goldens of
// scripts/reference/goldens_mixtral.py: the full forward (logits, hidden
// states, attentions, router logits), a right-padded batch, KV-cache steps
// and a left-padded batch. The full forward routes 18 tokens to 2 of 8
// experts each, which runs every expert (modeling.SparseExperts); each
// decoding step routes 2, which gathers the chosen experts: both
// formulations meet the same reference.
func checkFamily(t *testing.T, m *Model) {
	g := golden.Load(t, "mixtral")
	ids := golden.IDs(t, g, "input_ids")
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{HiddenStates: true, Attentions: true, RouterLogits: true})
	if err != nil {
		t.Fatal(err)
	}
	r := golden.Report{}
	r["logits"] = golden.Check(t, g, "logits", out.Logits, golden.Tolerance)
	for i, h := range out.HiddenStates {
		r["hidden"] = max(r["hidden"], golden.Check(t, g, fmt.Sprintf("hidden.%d", i), h, golden.Tolerance))
	}
	for i, a := range out.Attentions {
		r["attn"] = max(r["attn"], golden.Check(t, g, fmt.Sprintf("attn.%d", i), a, golden.Tolerance))
	}
	r["router"] = golden.Check(t, g, "router.logits", out.RouterLogits, golden.Tolerance)
	right := golden.IDs(t, g, "padded.attention_mask")
	padded, err := m.Forward(modeling.Batch{IDs: ids, AttentionMask: right}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["padded"] = golden.CheckMasked(t, g, "padded.logits", padded.Logits, right, golden.Tolerance)
	r["kv"] = golden.Check(t, g, "kv.step_logits", decodetest.StepThrough(t, m.Decoder, ids, golden.Int(t, g, "kv.prefix_len")), golden.Tolerance)
	mask := golden.IDs(t, g, "leftpad.attention_mask")
	left, err := m.Forward(modeling.Batch{IDs: golden.IDs(t, g, "leftpad.input_ids"), AttentionMask: mask,
		PositionIDs: golden.IDs(t, g, "leftpad.position_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r["leftpad"] = golden.CheckMasked(t, g, "leftpad.logits", left.Logits, mask, golden.Tolerance)
	t.Logf("mixtral: max |diff| against Hugging Face's own class: %s", r)
}

func load(t *testing.T, folder string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir("mixtral"), folder), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The checkpoint layout transformers 5.23's save_pretrained writes (one
// Linear per expert, block_sparse_moe) with its config.json
// (rope_parameters), and the fused layout it keeps in memory (stacked
// experts, gate_up_proj) with a transformers 4 config.
func TestMatchesHuggingFace(t *testing.T) {
	for _, folder := range []string{"model", "model-fused"} {
		t.Run(folder, func(t *testing.T) {
			m := load(t, folder)
			if m.Config.Window() != 4 || m.Config.NumLocalExperts != 8 || m.Config.NumExpertsPerTok != 2 {
				t.Fatalf("config: window %d, %d experts, %d per token", m.Config.Window(), m.Config.NumLocalExperts, m.Config.NumExpertsPerTok)
			}
			checkFamily(t, m)
		})
	}
}

// ExpertChoice gives MixtralTopKRouter's chosen experts and renormalized
// weights, read from the router in the reference forward.
func TestExpertChoice(t *testing.T) {
	g := golden.Load(t, "mixtral")
	m := load(t, "model")
	out, err := m.Forward(modeling.Batch{IDs: golden.IDs(t, g, "input_ids")}, modeling.ForwardOptions{RouterLogits: true})
	if err != nil {
		t.Fatal(err)
	}
	for row := range 2 {
		experts, weights, err := m.ExpertChoice(out, row)
		if err != nil {
			t.Fatal(err)
		}
		for l := range experts {
			wantExperts := tensors.MustCopyFlatData[int64](golden.Float(t, g, fmt.Sprintf("router.experts.%d", l)))
			wantWeights := tensors.MustCopyFlatData[float32](golden.Float(t, g, fmt.Sprintf("router.weights.%d", l)))
			for tok := range experts[l] {
				for k := range experts[l][tok] {
					at := (row*len(experts[l])+tok)*2 + k
					if experts[l][tok][k] != int(wantExperts[at]) || abs(weights[l][tok][k]-wantWeights[at]) > 1e-5 {
						t.Errorf("layer %d, row %d, token %d, choice %d: expert %d weight %.6f, Hugging Face %d %.6f",
							l, row, tok, k, experts[l][tok][k], weights[l][tok][k], wantExperts[at], wantWeights[at])
					}
				}
			}
		}
	}
	if _, _, err := m.ExpertChoice(&modeling.Output{}, 0); err == nil || !strings.Contains(err.Error(), "RouterLogits") {
		t.Errorf("expert choice without router logits: err = %v", err)
	}
}

func abs(x float32) float32 { return max(x, -x) }

// Save writes the per-expert layout transformers 5.23 writes, and reads back
// to the same outputs.
func TestSaveLoadRoundTrip(t *testing.T) {
	m := load(t, "model-fused")
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	saved, err := weights.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := weights.ReadDir(filepath.Join(golden.Dir("mixtral"), "model"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(saved.Names(), want.Names()) {
		t.Errorf("saved tensors %v,\nHugging Face saves %v", saved.Names(), want.Names())
	}
	back, err := Load(dir, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	checkFamily(t, back)
}

// Configs and checkpoints that cannot be this model are errors naming the
// file and the field or tensor.
func TestBadConfigAndCheckpoint(t *testing.T) {
	base := `"vocab_size":96,"hidden_size":32,"intermediate_size":24,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2`
	for _, tc := range []struct{ json, want string }{
		{`{` + base + `,"num_local_experts":2,"num_experts_per_tok":3}`, `"num_experts_per_tok"`},
		{`{` + base + `,"num_local_experts":-1}`, `"num_local_experts"`},
		{`{` + base + `,"router_aux_loss_coef":-1}`, `"router_aux_loss_coef"`},
		{`{` + base + `,"router_jitter_noise":2}`, `"router_jitter_noise"`},
		{`{"vocab_size":96,"hidden_size":32,"intermediate_size":24,"num_hidden_layers":2,"num_attention_heads":4}`, `"num_key_value_heads"`},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.json), 0o644)
		if _, err := ReadConfig(dir); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("config %s: err = %v; want one naming config.json and %s", tc.json, err, tc.want)
		}
	}
	src := filepath.Join(golden.Dir("mixtral"), "model")
	cfg, err := ReadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*weights.Set)
		want string
	}{
		{"an expert missing", func(s *weights.Set) { s.Delete("model.layers.1.block_sparse_moe.experts.5.w3.weight") },
			`"model.layers.1.block_sparse_moe.experts.5.w3.weight": missing`},
		{"both layouts", func(s *weights.Set) {
			t, _ := s.Get("model.layers.0.block_sparse_moe.experts.0.w1.weight")
			s.Add("model.layers.0.mlp.experts.gate_up_proj", t, "")
		}, "holds its experts twice"},
		{"a ninth expert", func(s *weights.Set) {
			t, _ := s.Get("model.layers.0.block_sparse_moe.experts.0.w1.weight")
			s.Add("model.layers.0.block_sparse_moe.experts.8.w1.weight", t, "")
		}, "experts.8.w1.weight"},
	} {
		set, err := weights.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		tc.edit(set)
		if _, err := New(cfg, set, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want one naming %s", tc.name, err, tc.want)
		}
	}
}
