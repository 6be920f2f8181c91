// Package llama is Meta's LLaMA (1, 2 and 3) and Mistral, as Hugging Face's
// LlamaForCausalLM and MistralForCausalLM compute them: token embedding,
// pre-RMSNorm blocks of grouped-query self-attention with rotary position
// embeddings (rope_theta, Llama 3 rope_scaling) and a SwiGLU MLP, a final
// RMSNorm and a language-model head (tied or untied). Mistral adds a sliding
// attention window.
//
// Load reads a Hugging Face folder; LoadLlama2C reads a llama2.c checkpoint.
// Forward runs the whole network; NewCache and Step decode with a KV cache.
package llama

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a LLaMA-family language model bound to a backend.
type Model struct {
	Config *Config
	// Decoder provides Forward, NewCache and Step.
	*modeling.Decoder
	invFreq []float64
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

// LoadLlama2C reads a llama2.c checkpoint (.bin) onto backend. Its header
// gives the sizes; llama2.c's fixed choices fill the rest of the config
// (RMSNorm epsilon 1e-5, rope_theta 10000, BOS 1, EOS 2).
func LoadLlama2C(path string, backend compute.Backend) (*Model, error) {
	h, set, err := weights.ReadLlama2C(path)
	if err != nil {
		return nil, err
	}
	bos, eos := 1, 2
	cfg := &Config{
		ModelType: "llama", Architectures: []string{"LlamaForCausalLM"},
		VocabSize: h.VocabSize, HiddenSize: h.Dim, IntermediateSize: h.HiddenDim,
		NumHiddenLayers: h.NumLayers, NumAttentionHeads: h.NumHeads, NumKeyValueHeads: h.NumKVHeads,
		MaxPositionEmbeddings: h.SeqLen, RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu",
		TieWordEmbeddings: h.SharedClassifier, BosTokenID: &bos, EosTokenID: float64(eos), TorchDtype: "float32",
	}
	m, err := New(cfg, set, backend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// New builds a model from cfg and the checkpoint tensors in set.
func New(cfg *Config, set *weights.Set, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	if err := modeling.CheckLayers(set, "num_hidden_layers", cfg.NumHiddenLayers); err != nil {
		return nil, err
	}
	inv, err := modeling.RotaryInvFreq(cfg.HeadDim(), cfg.RopeTheta, cfg.RopeScaling)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, invFreq: inv}
	sp, err := m.specs()
	if err != nil {
		return nil, err
	}
	params, err := modeling.LoadSpecsTo(backend, set, sp, modeling.Checkpoint{Decoding: true, Unread: func(n string) bool {
		// Rotary frequencies are recomputed; a tied head is the embedding.
		return strings.HasSuffix(n, "rotary_emb.inv_freq") || n == "lm_head.weight" && cfg.TieWordEmbeddings
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
// Face's LlamaForCausalLM (or MistralForCausalLM) reads.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// graph is the network: LlamaForCausalLM.forward. Each weight is named,
// shaped and given its role here, where it is used (see modeling.Scope).
func (m *Model) graph(s modeling.Scope, ids, positions *Node, attend modeling.AttendFunc) (*Node, []*Node) {
	c := m.Config
	embed := modeling.Embedding
	if c.TieWordEmbeddings {
		embed = modeling.LMHead // the embedding is also the head
	}
	x := s.Embed(ids, "model.embed_tokens.weight", embed, c.VocabSize, c.HiddenSize)
	var hidden []*Node
	for i := range c.NumHiddenLayers {
		l := s.At("model.layers.%d", i)
		x = s.Block(x)
		hidden = append(hidden, x)
		h := l.RMSNorm(x, "input_layernorm", c.RMSNormEps)
		x = Add(x, s.Hook(modeling.HookAttnOut, m.attention(l.At("self_attn"), i, h, positions, attend)))
		h = l.RMSNorm(x, "post_attention_layernorm", c.RMSNormEps)
		x = Add(x, s.Hook(modeling.HookMLPOut, l.At("mlp").GatedMLP(h, modeling.Activation(c.HiddenAct), c.IntermediateSize, c.MLPBias)))
	}
	x = s.Hook(modeling.HookFinalNorm, s.RMSNorm(s.EndBlocks(x), "model.norm", c.RMSNormEps))
	hidden = append(hidden, x)
	head := "lm_head.weight"
	if c.TieWordEmbeddings {
		head = "model.embed_tokens.weight"
	}
	return modeling.Linear(x, s.Weight(head, modeling.LMHead, c.VocabSize, c.HiddenSize), nil), hidden
}

// attention is LlamaAttention: q, k and v projections (fewer key/value heads
// than query heads for grouped-query attention), rotary embeddings on q and
// k, attention, and the output projection.
func (m *Model) attention(s modeling.Scope, layer int, h, positions *Node, attend modeling.AttendFunc) *Node {
	c := m.Config
	hd, col := c.HeadDim(), modeling.ColumnParallel
	q := modeling.SplitHeads(s.Linear(h, "q_proj", col, c.NumAttentionHeads*hd, c.AttentionBias), c.NumAttentionHeads, hd)
	k := modeling.SplitHeads(s.Linear(h, "k_proj", col, c.NumKeyValueHeads*hd, c.AttentionBias), c.NumKeyValueHeads, hd)
	v := modeling.SplitHeads(s.Linear(h, "v_proj", col, c.NumKeyValueHeads*hd, c.AttentionBias), c.NumKeyValueHeads, hd)
	q = modeling.ApplyRotary(q, positions, m.invFreq)
	k = modeling.ApplyRotary(k, positions, m.invFreq)
	return s.Linear(modeling.MergeHeads(attend(layer, q, k, v)), "o_proj", modeling.RowParallel, c.HiddenSize, c.AttentionBias)
}

// ModelType returns "llama" or "mistral", as config.json says.
func (m *Model) ModelType() string { return m.Config.ModelType }

// NewRandom returns a model with cfg's shape and freshly initialized weights
// (normal with initializer_range, 0.02 by default; RMSNorms 1), for training
// from scratch and benchmarks.
func NewRandom(cfg *Config, seed uint64, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	sp, err := specs(cfg)
	if err != nil {
		return nil, err
	}
	return New(cfg, modeling.RandomWeights(sp, seed, cfg.InitializerRange), backend)
}
