// Package phi3 is Microsoft's Phi-3 (and Phi-3.5 and Phi-4-mini, which share
// its architecture), as Hugging Face's Phi3ForCausalLM computes it: token
// embedding, pre-RMSNorm blocks of grouped-query self-attention whose
// queries, keys and values come from one fused projection (qkv_proj), with
// rotary embeddings on all or part of each head (partial_rotary_factor) and
// Phi-3's "longrope" scaling (short and long factors, an attention factor),
// an optional sliding window, a SwiGLU MLP whose gate and up projections are
// fused too (gate_up_proj), a final RMSNorm and a tied or untied head.
//
// Load reads a Hugging Face folder. Forward runs the whole network;
// NewCache and Step decode with a KV cache.
package phi3

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a Phi-3 language model bound to a backend.
type Model struct {
	Config *Config
	// Decoder provides Forward and NewCache (Step is the Model's own).
	*modeling.Decoder
	rotary modeling.Rotary
}

// Load reads the model in the Hugging Face folder dir onto backend.
func Load(dir string, backend compute.Backend) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return New(cfg, set, backend)
}

// New builds a model from cfg and the checkpoint tensors in set.
func New(cfg *Config, set *weights.Set, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	if err := modeling.CheckLayers(set, "num_hidden_layers", cfg.NumHiddenLayers); err != nil {
		return nil, err
	}
	m, err := declared(cfg)
	if err != nil {
		return nil, err
	}
	sp, err := m.specs()
	if err != nil {
		return nil, err
	}
	params, err := modeling.LoadSpecsTo(backend, set, sp, modeling.Checkpoint{Decoding: true, Unread: func(n string) bool {
		return n == "lm_head.weight" && cfg.TieWordEmbeddings // a tied head is the embedding
	}})
	if err != nil {
		return nil, err
	}
	m.Decoder = modeling.NewDecoder(params, backend, modeling.DecoderShape{
		Layers: cfg.NumHiddenLayers, KVHeads: cfg.NumKeyValueHeads, HeadDim: cfg.HeadDim(),
		Window: cfg.Window(), PadPosition: 1, MaxPositions: cfg.MaxPositionEmbeddings, Vocab: cfg.VocabSize,
		AttentionDropout: cfg.AttentionDropout,
	}, m.graph)
	return m, nil
}

// Save writes config.json and model.safetensors to dir, in a form Hugging
// Face's Phi3ForCausalLM reads.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// graph is the network: Phi3ForCausalLM.forward. Each weight is named,
// shaped and given its role here, where it is used (see modeling.Scope).
func (m *Model) graph(s modeling.Scope, ids, positions *Node, attend modeling.AttendFunc) (*Node, []*Node) {
	c := m.Config
	embed := modeling.Embedding
	if c.TieWordEmbeddings {
		embed = modeling.LMHead // the embedding is also the head
	}
	x := s.Embed(ids, "model.embed_tokens.weight", embed, c.VocabSize, c.HiddenSize)
	if pad, ok := c.PaddingRow(); ok && !s.Inference() {
		// nn.Embedding's padding_idx: lookups of the padding token send no
		// gradient to its row.
		x = Where(Equal(ids, Scalar(ids.Graph(), ids.DType(), pad)), StopGradient(x), x)
	}
	var hidden []*Node
	for i := range c.NumHiddenLayers {
		l := s.At("model.layers.%d", i)
		x = s.Block(x)
		hidden = append(hidden, x)
		h := l.RMSNorm(x, "input_layernorm", c.RMSNormEps)
		x = Add(x, s.Hook(modeling.HookAttnOut, s.Dropout(m.attention(l.At("self_attn"), i, h, positions, attend), c.ResidPdrop)))
		h = l.RMSNorm(x, "post_attention_layernorm", c.RMSNormEps)
		x = Add(x, s.Hook(modeling.HookMLPOut, s.Dropout(m.mlp(l.At("mlp"), h), c.ResidPdrop)))
	}
	x = s.Hook(modeling.HookFinalNorm, s.RMSNorm(s.EndBlocks(x), "model.norm", c.RMSNormEps))
	hidden = append(hidden, x)
	head := "lm_head.weight"
	if c.TieWordEmbeddings {
		head = "model.embed_tokens.weight"
	}
	return modeling.Linear(x, s.Weight(head, modeling.LMHead, c.VocabSize, c.HiddenSize), nil), hidden
}

// attention is Phi3Attention: one projection makes the queries, then the
// keys, then the values (fewer key/value heads than query heads for
// grouped-query attention); rotary embeddings on q and k, attention, and
// the output projection.
func (m *Model) attention(s modeling.Scope, layer int, h, positions *Node, attend modeling.AttendFunc) *Node {
	c := m.Config
	hd, nq, nkv := c.HeadDim(), c.NumAttentionHeads, c.NumKeyValueHeads
	qkv := s.Linear(h, "qkv_proj", modeling.ColumnParallel, (nq+2*nkv)*hd, false)
	part := func(from, heads int) *Node {
		return modeling.SplitHeads(SliceAxis(qkv, -1, AxisRange(from*hd, (from+heads)*hd)), heads, hd)
	}
	q, k, v := part(0, nq), part(nq, nkv), part(nq+nkv, nkv)
	q, k = m.rotary.Apply(q, positions), m.rotary.Apply(k, positions)
	return s.Linear(modeling.MergeHeads(attend(layer, q, k, v)), "o_proj", modeling.RowParallel, c.HiddenSize, false)
}

// mlp is Phi3MLP: gate_up_proj's first half is the gate, its second the up
// projection; down(up · act(gate)).
func (m *Model) mlp(s modeling.Scope, h *Node) *Node {
	c := m.Config
	i := c.IntermediateSize
	gateUp := s.Linear(h, "gate_up_proj", modeling.ColumnParallel, 2*i, false)
	gate, up := SliceAxis(gateUp, -1, AxisRange(0, i)), SliceAxis(gateUp, -1, AxisRange(i, 2*i))
	return s.Linear(Mul(up, modeling.Activation(c.HiddenAct)(gate)), "down_proj", modeling.RowParallel, c.HiddenSize, false)
}

// Step is the Decoder's Step, except at the step that takes a longrope
// model's sequence past original_max_position_embeddings tokens: there
// Hugging Face's Phi3ForCausalLM.prepare_inputs_for_generation drops the
// cache and runs the whole sequence again, so that every key is rotated
// with the long factors. Step does the same (restarting c and feeding it
// all its tokens) and returns the logits of the new tokens only. The
// Decoder's own Step never recomputes: it is the model's forward with
// past_key_values.
func (m *Model) Step(c *modeling.Cache, ids, mask [][]int32) (*tensors.Tensor, error) {
	after := m.rotary.SwitchAfter
	if m.rotary.Long == nil || len(ids) == 0 || len(ids[0]) == 0 || c.Len == 0 || c.Len > after || c.Len+len(ids[0]) <= after {
		return m.Decoder.Step(c, ids, mask)
	}
	all, allMask := c.Inputs()
	if len(ids) != len(all) || mask != nil && len(mask) != len(ids) {
		return m.Decoder.Step(c, ids, mask) // which says what is wrong
	}
	for b := range all {
		all[b] = append(all[b], ids[b]...)
		if mask == nil {
			for range ids[b] {
				allMask[b] = append(allMask[b], 1)
			}
		} else {
			allMask[b] = append(allMask[b], mask[b]...)
		}
	}
	c.Restart()
	logits, err := m.Decoder.Step(c, all, allMask)
	if err != nil {
		return nil, err
	}
	return lastPositions(logits, len(ids[0]))
}

// lastPositions returns the last n positions of logits [B, T, V].
func lastPositions(logits *tensors.Tensor, n int) (*tensors.Tensor, error) {
	defer logits.FinalizeAll()
	dims := logits.Shape().Dimensions
	b, t, v := dims[0], dims[1], dims[2]
	out := make([]float32, 0, b*n*v)
	err := logits.ConstFlatData(func(flat any) {
		all := flat.([]float32)
		for row := range b {
			out = append(out, all[(row*t+t-n)*v:(row+1)*t*v]...)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("step: %w", err)
	}
	return tensors.FromFlatDataAndDimensions(out, b, n, v), nil
}

// ModelType returns "phi3".
func (m *Model) ModelType() string { return m.Config.ModelType }

// NewRandom returns a model with cfg's shape and freshly initialized weights
// (normal with initializer_range, 0.02 by default; RMSNorms 1; the
// embedding's pad_token_id row 0, as Hugging Face's _init_weights), for
// training from scratch and benchmarks.
func NewRandom(cfg *Config, seed uint64, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	m, err := declared(cfg)
	if err != nil {
		return nil, err
	}
	sp, err := m.specs()
	if err != nil {
		return nil, err
	}
	set := modeling.RandomWeights(sp, seed, cfg.InitializerRange)
	if pad, ok := cfg.PaddingRow(); ok {
		table, _ := set.Get("model.embed_tokens.weight")
		table.MutableFlatData(func(flat any) {
			clear(flat.([]float32)[pad*cfg.HiddenSize : (pad+1)*cfg.HiddenSize])
		})
	}
	return New(cfg, set, backend)
}
