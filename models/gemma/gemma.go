// Package gemma is Google's Gemma 2 and Gemma 3 (text), as Hugging Face's
// Gemma2ForCausalLM and Gemma3ForCausalLM compute them: token embeddings
// scaled by √hidden_size; blocks whose attention and MLP are each wrapped in
// an RMSNorm before and another after, every RMSNorm scaling by (1 + w);
// grouped-query attention scaled by query_pre_attn_scalar^-½ with rotary
// embeddings, on layers that alternate between a sliding window and global
// attention; a gelu-tanh gated MLP; a final RMSNorm and a head tied to the
// embedding. Gemma 2 soft-caps the attention scores and the logits; Gemma 3
// normalizes queries and keys per head and gives sliding and global layers
// rotary bases of their own.
//
// Load reads a Hugging Face folder. Forward runs the whole network;
// NewCache and Step decode with a KV cache.
package gemma

import (
	"math"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a Gemma 2 or Gemma 3 language model bound to a backend.
type Model struct {
	Config *Config
	// Decoder provides Forward, NewCache and Step.
	*modeling.Decoder
	// The rotary inverse frequencies of sliding and of global layers.
	local, global []float64
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

// New builds a model from cfg and the checkpoint tensors in set, named as
// Hugging Face names them.
func New(cfg *Config, set *weights.Set, backend compute.Backend) (*Model, error) {
	m, err := declared(cfg)
	if err != nil {
		return nil, err
	}
	if err := modeling.CheckLayers(set, "num_hidden_layers", cfg.NumHiddenLayers); err != nil {
		return nil, err
	}
	sp, err := m.specs()
	if err != nil {
		return nil, err
	}
	params, err := modeling.LoadSpecsTo(backend, set, sp, modeling.Checkpoint{Decoding: true, Unread: func(n string) bool {
		// Rotary frequencies are recomputed; a tied head is the embedding.
		return strings.Contains(n, "rotary_emb.") || n == "lm_head.weight" && cfg.TieWordEmbeddings
	}})
	if err != nil {
		return nil, err
	}
	m.Decoder = modeling.NewDecoder(params, backend, modeling.DecoderShape{
		Layers: cfg.NumHiddenLayers, KVHeads: cfg.NumKeyValueHeads, HeadDim: cfg.HeadDim,
		LayerWindows: cfg.LayerWindows(), Scale: cfg.Scale(), SoftCap: cfg.AttentionSoftCap(),
		PadPosition: 1, MaxPositions: cfg.MaxPositionEmbeddings, Vocab: cfg.VocabSize,
		AttentionDropout: cfg.AttentionDropout,
	}, m.graph)
	return m, nil
}

// declared checks cfg and returns a model without weights, whose graph
// declares them.
func declared(cfg *Config) (*Model, error) {
	if err := cfg.Check("config"); err != nil {
		return nil, err
	}
	local, global, err := cfg.rotaryInvFreqs()
	if err != nil {
		return nil, err
	}
	return &Model{Config: cfg, local: local, global: global}, nil
}

// Save writes config.json and model.safetensors to dir, in a form Hugging
// Face's Gemma2ForCausalLM or Gemma3ForCausalLM reads.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// graph is the network: Gemma{2,3}ForCausalLM.forward. Each weight is
// named, shaped and given its role here, where it is used (see
// modeling.Scope).
func (m *Model) graph(s modeling.Scope, ids, positions *Node, attend modeling.AttendFunc) (*Node, []*Node) {
	c := m.Config
	embed, head := modeling.Embedding, "lm_head.weight"
	if c.TieWordEmbeddings {
		embed, head = modeling.LMHead, "model.embed_tokens.weight" // the embedding is also the head
	}
	table := s.Weight("model.embed_tokens.weight", embed, c.VocabSize, c.HiddenSize)
	// The normalizer is cast to the table's dtype, as Hugging Face's
	// Gemma3TextScaledWordEmbedding does (in bfloat16 √3072 is 55.5).
	x := Mul(s.EmbedIn(table, ids), Scalar(ids.Graph(), table.DType(), math.Sqrt(float64(c.HiddenSize))))
	var hidden []*Node
	for i := range c.NumHiddenLayers {
		l := s.At("model.layers.%d", i)
		x = s.Block(x)
		hidden = append(hidden, x)
		h := m.attention(l.At("self_attn"), i, m.norm(l, x, "input_layernorm"), positions, attend)
		x = Add(x, s.Hook(modeling.HookAttnOut, m.norm(l, h, "post_attention_layernorm")))
		h = m.mlp(l.At("mlp"), m.norm(l, x, "pre_feedforward_layernorm"))
		x = Add(x, s.Hook(modeling.HookMLPOut, m.norm(l, h, "post_feedforward_layernorm")))
	}
	x = s.Hook(modeling.HookFinalNorm, m.norm(s, s.EndBlocks(x), "model.norm"))
	hidden = append(hidden, x)
	logits := modeling.Linear(x, s.Weight(head, modeling.LMHead, c.VocabSize, c.HiddenSize), nil)
	if limit := c.FinalLogitSoftcapping; limit != nil {
		logits = modeling.SoftCap(logits, *limit)
	}
	return logits, hidden
}

// attention is Gemma{2,3}Attention: q, k and v projections (fewer key/value
// heads than query heads), Gemma 3's per-head RMSNorm of q and k, rotary
// embeddings with the layer type's frequencies, attention (scaled, capped
// and windowed as the Decoder's shape says) and the output projection.
func (m *Model) attention(s modeling.Scope, layer int, h, positions *Node, attend modeling.AttendFunc) *Node {
	c := m.Config
	hd, col := c.HeadDim, modeling.ColumnParallel
	q := modeling.SplitHeads(s.Linear(h, "q_proj", col, c.NumAttentionHeads*hd, c.AttentionBias), c.NumAttentionHeads, hd)
	k := modeling.SplitHeads(s.Linear(h, "k_proj", col, c.NumKeyValueHeads*hd, c.AttentionBias), c.NumKeyValueHeads, hd)
	v := modeling.SplitHeads(s.Linear(h, "v_proj", col, c.NumKeyValueHeads*hd, c.AttentionBias), c.NumKeyValueHeads, hd)
	if c.ModelType == Gemma3 {
		q, k = m.norm(s, q, "q_norm"), m.norm(s, k, "k_norm")
	}
	inv := m.global
	if c.LayerTypes[layer] == Sliding {
		inv = m.local
	}
	q, k = modeling.ApplyRotary(q, positions, inv), modeling.ApplyRotary(k, positions, inv)
	return s.Linear(modeling.MergeHeads(attend(layer, q, k, v)), "o_proj", modeling.RowParallel, c.HiddenSize, c.AttentionBias)
}

// mlp is Gemma's gated MLP: down(act(gate(x)) · up(x)), act gelu-tanh.
func (m *Model) mlp(s modeling.Scope, h *Node) *Node {
	c := m.Config
	col, i := modeling.ColumnParallel, c.IntermediateSize
	act := modeling.Activation(c.HiddenActivation)
	gated := Mul(act(s.Linear(h, "gate_proj", col, i, false)), s.Linear(h, "up_proj", col, i, false))
	return s.Linear(gated, "down_proj", modeling.RowParallel, c.HiddenSize, false)
}

// norm is Gemma's RMSNorm name over x's last axis: x/rms(x)·(1 + w), in
// float32 whatever x's dtype, converted back after the product (Hugging
// Face's Gemma2RMSNorm multiplies before casting, unlike LLaMA's).
func (m *Model) norm(s modeling.Scope, x *Node, name string) *Node {
	w := s.Weight(name+".weight", modeling.Whole, x.Shape().Dimensions[x.Rank()-1])
	y := modeling.RMSNorm(ConvertDType(x, dtypes.Float32), OnePlus(ConvertDType(w, dtypes.Float32)), m.Config.RMSNormEps)
	return ConvertDType(y, x.DType())
}

// ModelType returns "gemma2" or "gemma3_text", as config.json says.
func (m *Model) ModelType() string { return m.Config.ModelType }
