// Package qwen is Alibaba's Qwen2 (and Qwen2.5) and Qwen3, as Hugging
// Face's Qwen2ForCausalLM and Qwen3ForCausalLM compute them: LLaMA's
// network (pre-RMSNorm blocks of grouped-query attention with rotary
// embeddings and a gated MLP, tied or untied head) with biases on the q, k
// and v projections (Qwen2; Qwen3's attention_bias puts them on all four),
// Qwen3's RMSNorm over each query and key head before the rotary embedding,
// and sliding-window attention on the layers the config names.
//
// Both generations share this package because Hugging Face's Qwen3 is
// Qwen2 plus the q/k norm and a different bias switch: transformers writes
// modeling_qwen3.py from modeling_qwen2.py.
package qwen

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a Qwen2 or Qwen3 language model bound to a backend.
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
	params, err := modeling.LoadSpecsTo(backend, set, sp, modeling.Checkpoint{Decoding: true, Unread: cfg.unread})
	if err != nil {
		return nil, err
	}
	m.Decoder = modeling.NewDecoder(params, backend, modeling.DecoderShape{
		Layers: cfg.NumHiddenLayers, KVHeads: cfg.NumKeyValueHeads, HeadDim: cfg.HeadDim(),
		LayerWindows: cfg.LayerWindows(), PadPosition: 1, MaxPositions: cfg.MaxPositionEmbeddings, Vocab: cfg.VocabSize,
		AttentionDropout: cfg.AttentionDropout,
	}, m.graph)
	return m, nil
}

// NewRandom returns a model with cfg's shape and freshly initialized weights
// (normal with initializer_range, 0.02 by default; RMSNorms 1, biases 0),
// for training from scratch and benchmarks.
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
	return New(cfg, modeling.RandomWeights(sp, seed, cfg.InitializerRange), backend)
}

// Save writes config.json and model.safetensors to dir, in a form Hugging
// Face's Qwen2ForCausalLM (or Qwen3ForCausalLM) reads.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// ModelType returns "qwen2" or "qwen3", as config.json says.
func (m *Model) ModelType() string { return m.Config.ModelType }

// graph is the network: Qwen2ForCausalLM.forward and Qwen3ForCausalLM.forward.
// Each weight is named, shaped and given its role here, where it is used
// (see modeling.Scope).
func (m *Model) graph(s modeling.Scope, ids, positions *Node, attend modeling.AttendFunc) (*Node, []*Node) {
	c := m.Config
	x := s.Embed(ids, "model.embed_tokens.weight", modeling.Embedding, c.VocabSize, c.HiddenSize)
	var hidden []*Node
	for i := range c.NumHiddenLayers {
		l := s.At("model.layers.%d", i)
		x = s.Block(x)
		hidden = append(hidden, x)
		h := l.RMSNorm(x, "input_layernorm", c.RMSNormEps)
		x = Add(x, s.Hook(modeling.HookAttnOut, m.attention(l.At("self_attn"), i, h, positions, attend)))
		h = l.RMSNorm(x, "post_attention_layernorm", c.RMSNormEps)
		x = Add(x, s.Hook(modeling.HookMLPOut, l.At("mlp").GatedMLP(h, modeling.Activation(c.HiddenAct), c.IntermediateSize, false)))
	}
	x = s.Hook(modeling.HookFinalNorm, s.RMSNorm(s.EndBlocks(x), "model.norm", c.RMSNormEps))
	hidden = append(hidden, x)
	head := "lm_head.weight"
	if c.TieWordEmbeddings {
		head = "model.embed_tokens.weight" // declared again as the head: its role becomes LMHead
	}
	return modeling.Linear(x, s.Weight(head, modeling.LMHead, c.VocabSize, c.HiddenSize), nil), hidden
}

// attention is Qwen2Attention and Qwen3Attention: q, k and v projections
// (fewer key/value heads than query heads), Qwen3's RMSNorm over each head
// of q and k, rotary embeddings on q and k, attention (sliding on the
// layers the config names: the Decoder masks by layer), and the output
// projection.
func (m *Model) attention(s modeling.Scope, layer int, h, positions *Node, attend modeling.AttendFunc) *Node {
	c := m.Config
	hd, col, bias := c.HeadDim(), modeling.ColumnParallel, c.QKVBias()
	q := modeling.SplitHeads(s.Linear(h, "q_proj", col, c.NumAttentionHeads*hd, bias), c.NumAttentionHeads, hd)
	k := modeling.SplitHeads(s.Linear(h, "k_proj", col, c.NumKeyValueHeads*hd, bias), c.NumKeyValueHeads, hd)
	v := modeling.SplitHeads(s.Linear(h, "v_proj", col, c.NumKeyValueHeads*hd, bias), c.NumKeyValueHeads, hd)
	if c.QKNorm() {
		q = s.RMSNorm(q, "q_norm", c.RMSNormEps)
		k = s.RMSNorm(k, "k_norm", c.RMSNormEps)
	}
	q = modeling.ApplyRotary(q, positions, m.invFreq)
	k = modeling.ApplyRotary(k, positions, m.invFreq)
	return s.Linear(modeling.MergeHeads(attend(layer, q, k, v)), "o_proj", modeling.RowParallel, c.HiddenSize, c.OutputBias())
}
