package phi3

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// checkFamily compares a model with its golden outputs
// (scripts/reference/goldens_phi3.py): full forward (logits, hidden states,
// attentions), a right-padded batch, KV-cache steps through the Decoder
// (the model's forward with past_key_values) and a left-padded batch.
func checkFamily(t *testing.T, family string, m *Model) {
	t.Helper()
	g := golden.Load(t, family)
	ids := golden.IDs(t, g, "input_ids")
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{HiddenStates: true, Attentions: true})
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
	t.Logf("%s: max |diff| against Hugging Face's Phi3ForCausalLM: %s", family, r)
}

func load(t *testing.T, family string) *Model {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBase: fused qkv_proj (grouped-query: 2 key/value heads for 4) and
// gate_up_proj, RMSNorm, full rotary, sliding window 4 over 9 tokens, an
// untied head.
func TestBase(t *testing.T) {
	m := load(t, "phi3/base")
	c := m.Config
	if c.Window() != 4 || c.TieWordEmbeddings || c.NumKeyValueHeads != 2 || c.RotaryDim() != c.HeadDim() || m.rotary.Long != nil {
		t.Fatalf("base config read as window %d, tied %v, %d kv heads, rotary %d of %d, longrope %v",
			c.Window(), c.TieWordEmbeddings, c.NumKeyValueHeads, c.RotaryDim(), c.HeadDim(), m.rotary.Long != nil)
	}
	checkFamily(t, "phi3/base", m)
}

// TestLongRope: longrope with original_max_position_embeddings 8, partial
// rotary (12 of 16 features), a tied head. The 9-token input reaches
// position 8 and takes the long factors; 8 tokens take the short ones; the
// KV-cache steps take the short factors at positions 4..7 and the long ones
// at 8, keys already cached staying as they were.
func TestLongRope(t *testing.T) {
	m := load(t, "phi3/longrope")
	c := m.Config
	if m.rotary.Long == nil || m.rotary.SwitchAfter != 8 || c.RotaryDim() != 12 || !c.TieWordEmbeddings {
		t.Fatalf("longrope config read as switch after %d, rotary %d, tied %v", m.rotary.SwitchAfter, c.RotaryDim(), c.TieWordEmbeddings)
	}
	checkFamily(t, "phi3/longrope", m)
	g := golden.Load(t, "phi3/longrope")
	short, err := m.Forward(modeling.Batch{IDs: golden.IDs(t, g, "short.input_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := golden.Check(t, g, "short.logits", short.Logits, golden.Tolerance)
	t.Logf("8 tokens (short factors): max |diff| %.2g", d)
}

// TestLongRopeCrossing feeds Step the tokens Hugging Face's generate() chose
// from prompts of 5 and 3 tokens and compares every step's logits with
// generate()'s: the step that takes the sequence past 8 tokens runs it all
// again with the long factors, as Phi3ForCausalLM does.
func TestLongRopeCrossing(t *testing.T) {
	m := load(t, "phi3/longrope")
	g := golden.Load(t, "phi3/longrope")
	ids, mask := golden.IDs(t, g, "cross.input_ids"), golden.IDs(t, g, "cross.attention_mask")
	gen := golden.IDs(t, g, "cross.generate.ids")
	c, err := m.NewCache(len(ids), len(ids[0])+len(gen[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free()
	logits, err := m.Step(c, ids, mask)
	if err != nil {
		t.Fatal(err)
	}
	steps := [][]float32{} // per step, [B·V]
	for j := range gen[0] {
		steps = append(steps, lastRow(t, logits))
		if j == len(gen[0])-1 {
			break
		}
		next := [][]int32{{gen[0][j]}, {gen[1][j]}}
		if logits, err = m.Step(c, next, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, n, v := len(ids), len(steps), m.Config.VocabSize
	flat := make([]float32, b*n*v)
	for j, s := range steps {
		for row := range b {
			copy(flat[(row*n+j)*v:(row*n+j+1)*v], s[row*v:(row+1)*v])
		}
	}
	d := golden.Check(t, g, "cross.logits", tensors.FromFlatDataAndDimensions(flat, b, n, v), golden.Tolerance)
	t.Logf("generate()'s logits across the switch to the long factors: max |diff| %.2g", d)
}

// lastRow returns the last position of logits [B, T, V], flat [B·V].
func lastRow(t *testing.T, logits *tensors.Tensor) []float32 {
	t.Helper()
	dims := logits.Shape().Dimensions
	all := tensors.MustCopyFlatData[float32](logits)
	out := make([]float32, 0, dims[0]*dims[2])
	for b := range dims[0] {
		out = append(out, all[((b+1)*dims[1]-1)*dims[2]:(b+1)*dims[1]*dims[2]]...)
	}
	return out
}

// TestLongRopeParameters checks the inverse frequencies and attention
// factor against transformers' _compute_longrope_parameters for each way a
// config spells longrope (rope_cases.json).
func TestLongRopeParameters(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(golden.Dir("phi3"), "rope_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name             string          `json:"name"`
		Config           json.RawMessage `json:"config"`
		Short            []float64       `json:"short_inv_freq"`
		Long             []float64       `json:"long_inv_freq"`
		AttentionFactor  float64         `json:"attention_factor"`
		OriginalMaxPosns int             `json:"original_max_position_embeddings"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		cfg := &Config{}
		if err := json.Unmarshal(tc.Config, cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.check(tc.Name); err != nil {
			t.Errorf("%s: %v", tc.Name, err)
			continue
		}
		r, err := cfg.Rotary()
		if err != nil {
			t.Fatal(err)
		}
		if r.SwitchAfter != tc.OriginalMaxPosns || math.Abs(r.Scale-tc.AttentionFactor) > 1e-12 {
			t.Errorf("%s: switch after %d, attention factor %v; want %d, %v", tc.Name, r.SwitchAfter, r.Scale, tc.OriginalMaxPosns, tc.AttentionFactor)
		}
		for _, f := range []struct {
			name      string
			got, want []float64
		}{{"short", r.Short, tc.Short}, {"long", r.Long, tc.Long}} {
			if len(f.got) != len(f.want) {
				t.Errorf("%s: %d %s frequencies, want %d", tc.Name, len(f.got), f.name, len(f.want))
				continue
			}
			for i := range f.got {
				if float32(f.got[i]) != float32(f.want[i]) {
					t.Errorf("%s: %s frequency %d = %v, want %v", tc.Name, f.name, i, f.got[i], f.want[i])
				}
			}
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := load(t, "phi3/longrope")
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, m.Backend)
	if err != nil {
		t.Fatal(err)
	}
	checkFamily(t, "phi3/longrope", back)
}

// TestTransformers5RopeParameters loads the longrope golden with its config
// laid out as transformers 5 saves it (rope_theta, partial_rotary_factor and
// the scaling inside rope_parameters) and checks the same reference.
func TestTransformers5RopeParameters(t *testing.T) {
	src := filepath.Join(golden.Dir("phi3/longrope"), "model")
	cfg := readJSON(t, filepath.Join(src, "config.json"))
	params := cfg["rope_scaling"].(map[string]any)
	params["rope_type"], params["rope_theta"] = "longrope", cfg["rope_theta"]
	params["partial_rotary_factor"] = cfg["partial_rotary_factor"]
	params["original_max_position_embeddings"] = cfg["original_max_position_embeddings"]
	delete(cfg, "rope_scaling")
	delete(cfg, "rope_theta")
	delete(cfg, "partial_rotary_factor")
	cfg["rope_parameters"] = params
	dir := linkedModel(t, src, cfg)
	m, err := Load(dir, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	checkFamily(t, "phi3/longrope", m)
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// linkedModel returns a folder holding cfg as config.json and src's weights.
func linkedModel(t *testing.T, src string, cfg map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(src, "model.safetensors"), filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBadConfig(t *testing.T) {
	base := `"vocab_size":96,"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4`
	longrope := func(short, long string) string {
		return base + `,"rope_scaling":{"type":"longrope","short_factor":` + short + `,"long_factor":` + long + `}`
	}
	for _, tc := range []struct{ json, want string }{
		{`"hidden_size":32,"intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4`, `"vocab_size"`},
		{base + `,"num_key_value_heads":3`, `"num_key_value_heads"`},
		{base + `,"partial_rotary_factor":1.5`, `"partial_rotary_factor"`},
		{base + `,"partial_rotary_factor":0.375`, `"partial_rotary_factor" (0.375) rotates 3`},
		{base + `,"rope_scaling":{"type":"dynamic","factor":2}`, `"dynamic"`},
		{longrope(`[1,1,1]`, `[1,1,1,1]`), `"short_factor" has 3 entries`},
		{longrope(`[1,1,1,1]`, `[1,1,0,1]`), `"long_factor": entry 2`},
		{base + `,"rope_scaling":{"type":"su","short_factor":[1,1,1,1]}`, `"long_factor" has 0 entries`},
		{base + `,"rope_theta":500,"rope_parameters":{"rope_theta":1000}`, `"rope_parameters.rope_theta"`},
		{base + `,"sliding_window":0`, `"sliding_window"`},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"+tc.json+"}"), 0o644)
		if _, err := ReadConfig(dir); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("config %s: err = %v; want one naming config.json and %s", tc.json, err, tc.want)
		}
	}
}

// TestPaddingRowGradient: the gradient of sum(logits · r) with respect to
// the untied embedding, from ids holding pad_token_id, equals
// Phi3ForCausalLM's, whose nn.Embedding(padding_idx) sends the padding
// row nothing from its lookups.
func TestPaddingRowGradient(t *testing.T) {
	m := load(t, "phi3/base")
	g := golden.Load(t, "phi3/padgrad")
	ids := golden.IDs(t, g, "input_ids")
	r := tensors.MustCopyFlatData[float32](golden.Float(t, g, "r"))
	const table = "model.embed_tokens.weight"
	e, err := m.Params().NewExec(m.Backend, func(in []*Node) []*Node {
		logits, _, _ := m.ForwardGraph(in[0], in[1], nil)
		loss := ReduceAllSum(Mul(logits, in[2]))
		return Gradient(loss, m.Params().Raw(in[0].Graph(), table))
	})
	if err != nil {
		t.Fatal(err)
	}
	b, n := len(ids), len(ids[0])
	positions := make([][]int32, b)
	for i := range positions {
		for j := range n {
			positions[i] = append(positions[i], int32(j))
		}
	}
	flat := func(rows [][]int32) *tensors.Tensor {
		var f []int32
		for _, row := range rows {
			f = append(f, row...)
		}
		return tensors.FromFlatDataAndDimensions(f, b, n)
	}
	out, err := e.Call(flat(ids), flat(positions), tensors.FromFlatDataAndDimensions(r, b, n, m.Config.VocabSize))
	if err != nil {
		t.Fatal(err)
	}
	d := golden.Check(t, g, "grad.embed_tokens", out[0], golden.Tolerance)
	t.Logf("embedding gradient: max |diff| %.2g", d)
}

// TestNewRandomZeroesPaddingRow: as Hugging Face's _init_weights, a random
// model's embedding row of pad_token_id is 0 (and only that row).
func TestNewRandomZeroesPaddingRow(t *testing.T) {
	cfg, err := ReadConfig(filepath.Join(golden.Dir("phi3/base"), "model"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, 1, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	set, err := m.Params().Weights()
	if err != nil {
		t.Fatal(err)
	}
	emb, _ := set.Get("model.embed_tokens.weight")
	flat, d := tensors.MustCopyFlatData[float32](emb), cfg.HiddenSize
	for row := range cfg.VocabSize {
		zero := true
		for _, v := range flat[row*d : (row+1)*d] {
			zero = zero && v == 0
		}
		if zero != (row == *cfg.PadTokenID) {
			t.Errorf("embedding row %d is zero: %v (pad_token_id %d)", row, zero, *cfg.PadTokenID)
		}
	}
}
