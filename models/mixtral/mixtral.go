// Package mixtral is Mistral AI's Mixtral, a sparse mixture of experts, as
// Hugging Face's MixtralForCausalLM computes it: Mistral's network
// (grouped-query attention with rotary embeddings and a sliding window,
// pre-RMSNorm blocks) whose MLP is replaced by experts: a router picks
// num_experts_per_tok of num_local_experts SwiGLU experts for each token
// and adds their outputs, weighted by its renormalized probabilities.
//
// Forward runs the whole network (ForwardOptions.RouterLogits returns the
// router's logits, ExpertChoice the experts each token went to); NewCache
// and Step decode with a KV cache. RouterAuxLoss is the router's
// load-balancing loss, for training.
package mixtral

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a Mixtral language model bound to a backend.
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

// New builds a model from cfg and the checkpoint tensors in set, whose
// experts may be laid out either way transformers 5.23 reads them (see
// fuseExperts).
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
	sp, err := modeling.DeclareDecoder(m.graph)
	if err != nil {
		return nil, err
	}
	perExpert, err := fuseExperts(set, cfg)
	if err != nil {
		return nil, err
	}
	params, err := modeling.LoadSpecsTo(backend, set, sp, modeling.Checkpoint{Decoding: true, Unread: func(n string) bool {
		return perExpert[n] || isRotaryBuffer(n) || n == "lm_head.weight" && cfg.TieWordEmbeddings
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

// graph is the network: MixtralForCausalLM.forward. Each weight is named,
// shaped and given its role here, where it is used (see modeling.Scope).
func (m *Model) graph(s modeling.Scope, ids, positions *Node, attend modeling.AttendFunc) (*Node, []*Node) {
	c := m.Config
	embed, head := modeling.Embedding, "lm_head.weight"
	if c.TieWordEmbeddings {
		embed, head = modeling.LMHead, "model.embed_tokens.weight" // the embedding is also the head
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
		x = Add(x, s.Hook(modeling.HookMLPOut, m.sparseMoE(l.At("mlp"), h)))
	}
	x = s.Hook(modeling.HookFinalNorm, s.RMSNorm(s.EndBlocks(x), "model.norm", c.RMSNormEps))
	hidden = append(hidden, x)
	return modeling.Linear(x, s.Weight(head, modeling.LMHead, c.VocabSize, c.HiddenSize), nil), hidden
}

// attention is MixtralAttention (Mistral's): q, k and v projections
// (grouped-query), rotary embeddings on q and k, attention within the
// sliding window (the Decoder's masks), and the output projection.
func (m *Model) attention(s modeling.Scope, layer int, h, positions *Node, attend modeling.AttendFunc) *Node {
	c := m.Config
	hd, col := c.HeadDim(), modeling.ColumnParallel
	q := modeling.SplitHeads(s.Linear(h, "q_proj", col, c.NumAttentionHeads*hd, false), c.NumAttentionHeads, hd)
	k := modeling.SplitHeads(s.Linear(h, "k_proj", col, c.NumKeyValueHeads*hd, false), c.NumKeyValueHeads, hd)
	v := modeling.SplitHeads(s.Linear(h, "v_proj", col, c.NumKeyValueHeads*hd, false), c.NumKeyValueHeads, hd)
	q = modeling.ApplyRotary(q, positions, m.invFreq)
	k = modeling.ApplyRotary(k, positions, m.invFreq)
	return s.Linear(modeling.MergeHeads(attend(layer, q, k, v)), "o_proj", modeling.RowParallel, c.HiddenSize, false)
}

// sparseMoE is MixtralSparseMoeBlock: the router (gate) scores every
// expert for each token, the top num_experts_per_tok are renormalized
// (MixtralTopKRouter), and the chosen experts' SwiGLU outputs are added
// with those weights (MixtralExperts). The router's logits are recorded
// for ForwardOptions.RouterLogits and the load-balancing loss.
func (m *Model) sparseMoE(s modeling.Scope, h *Node) *Node {
	c := m.Config
	dims := h.Shape().Dimensions
	e, i, d := c.NumLocalExperts, c.IntermediateSize, c.HiddenSize
	flat := Reshape(h, -1, d)
	logits := s.Linear(flat, "gate", modeling.Whole, e, false)
	s.Record(modeling.RouterLogits, Reshape(logits, dims[0], dims[1], e))
	weights, experts := modeling.TopKRouter(logits, c.NumExpertsPerTok)
	gateUp := s.Weight("experts.gate_up_proj", modeling.ExpertParallel, e, 2*i, d)
	down := s.Weight("experts.down_proj", modeling.ExpertParallel, e, d, i)
	out := s.SparseExperts(flat, gateUp, down, weights, experts, modeling.Activation(c.HiddenAct))
	return Reshape(out, dims...)
}

// ModelType returns "mixtral".
func (m *Model) ModelType() string { return m.Config.ModelType }

// NewRandom returns a model with cfg's shape and freshly initialized weights
// (normal with initializer_range, 0.02 by default; RMSNorms 1), for training
// from scratch and benchmarks.
func NewRandom(cfg *Config, seed uint64, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	inv, err := modeling.RotaryInvFreq(cfg.HeadDim(), cfg.RopeTheta, cfg.RopeScaling)
	if err != nil {
		return nil, err
	}
	sp, err := modeling.DeclareDecoder((&Model{Config: cfg, invFreq: inv}).graph)
	if err != nil {
		return nil, err
	}
	return New(cfg, modeling.RandomWeights(sp, seed, cfg.InitializerRange), backend)
}
