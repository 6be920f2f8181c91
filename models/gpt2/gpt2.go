// Package gpt2 is OpenAI's GPT-2, as Hugging Face's GPT2LMHeadModel computes
// it: learned token and position embeddings, pre-LayerNorm blocks of causal
// self-attention and a tanh-GELU MLP (Conv1D weights, [in, out] in the
// checkpoint, are laid out once as [out, in] at load), a final LayerNorm, and a language-model head tied to the token embedding.
//
// Load reads a Hugging Face folder (config.json + model.safetensors); the
// weights keep their checkpoint names, with or without the "transformer."
// prefix. Forward runs the whole network; NewCache and Step decode
// incrementally with a KV cache and give the same logits.
package gpt2

import (
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a GPT-2 language model bound to a backend.
type Model struct {
	Config *Config
	// Decoder provides Forward, NewCache and Step.
	*modeling.Decoder
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
	if err := modeling.CheckLayers(set, "n_layer", cfg.NLayer); err != nil {
		return nil, err
	}
	prefix := checkpointPrefix(set)
	sp, err := specs(cfg)
	if err != nil {
		return nil, err
	}
	name := func(n string) string { return prefix + n }
	params, err := modeling.LoadSpecsTo(backend, set, sp, modeling.Checkpoint{Name: name, Unread: buffers, Decoding: true})
	if err != nil {
		return nil, err
	}
	params.SetModelPrefix(lmHeadPrefix)
	m := &Model{Config: cfg}
	m.Decoder = modeling.NewDecoder(params, backend, modeling.DecoderShape{
		Layers: cfg.NLayer, KVHeads: cfg.NHead, HeadDim: cfg.HeadDim(),
		MaxPositions: cfg.NPositions, PadPosition: 1, Vocab: cfg.VocabSize, AttentionDropout: cfg.AttnPdrop,
	}, m.graph)
	return m, nil
}

// Save writes config.json and model.safetensors (GPT2Model names, no prefix)
// to dir, in a form Hugging Face's GPT2LMHeadModel.from_pretrained reads.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// graph is the network: GPT2LMHeadModel.forward. Each weight is named,
// shaped and given its role here, where it is used (see modeling.Scope).
// Dropout (embd_pdrop, resid_pdrop; attn_pdrop in the Decoder's attention)
// acts only in a trainer's graphs.
func (m *Model) graph(s modeling.Scope, ids, positions *Node, attend modeling.AttendFunc) (*Node, []*Node) {
	c := m.Config
	d, act := c.NEmbd, modeling.Activation(c.ActivationFunction)
	col, row := modeling.ColumnParallel, modeling.RowParallel

	x := Add(s.Embed(ids, "wte.weight", modeling.Embedding, c.VocabSize, d), s.Embed(positions, "wpe.weight", modeling.Whole, c.NPositions, d))
	x = s.Dropout(x, c.EmbdPdrop)
	var hidden []*Node
	for i := range c.NLayer {
		b := s.At("h.%d", i)
		x = s.Block(x)
		hidden = append(hidden, x)
		h := b.LayerNorm(x, "ln_1", c.LayerNormEpsilon)
		x = Add(x, s.Hook(modeling.HookAttnOut, m.attention(b.At("attn"), i, h, attend)))
		h = b.LayerNorm(x, "ln_2", c.LayerNormEpsilon)
		h = act(b.Conv1D(h, "mlp.c_fc", col, c.Inner()))
		x = Add(x, s.Hook(modeling.HookMLPOut, s.Dropout(b.Conv1D(h, "mlp.c_proj", row, d), c.ResidPdrop)))
	}
	x = s.Hook(modeling.HookFinalNorm, s.LayerNorm(s.EndBlocks(x), "ln_f", c.LayerNormEpsilon))
	hidden = append(hidden, x)
	logits := modeling.Linear(x, s.Weight("wte.weight", modeling.LMHead, c.VocabSize, d), nil) // the head is tied to wte
	return logits, hidden
}

// attention is GPT2Attention: one Conv1D makes q, k and v; heads attend
// causally; another Conv1D projects the result.
func (m *Model) attention(s modeling.Scope, layer int, h *Node, attend modeling.AttendFunc) *Node {
	c := m.Config
	qkv := s.Conv1D(h, "c_attn", modeling.ColumnParallel, 3*c.NEmbd)
	parts := Split(qkv, -1, 3)
	q := modeling.SplitHeads(parts[0], c.NHead, c.HeadDim())
	k := modeling.SplitHeads(parts[1], c.NHead, c.HeadDim())
	v := modeling.SplitHeads(parts[2], c.NHead, c.HeadDim())
	// attend scales scores by 1/sqrt(head_dim); adjust for GPT-2's options.
	if c.ScaleAttnWeights != nil && !*c.ScaleAttnWeights {
		q = MulScalar(q, math.Sqrt(float64(c.HeadDim())))
	}
	if c.ScaleAttnByInverseLayerIdx {
		q = MulScalar(q, 1/float64(layer+1))
	}
	out := attend(layer, q, k, v)
	return s.Dropout(s.Conv1D(modeling.MergeHeads(out), "c_proj", modeling.RowParallel, c.NEmbd), c.ResidPdrop)
}

// ModelType returns "gpt2".
func (m *Model) ModelType() string { return m.Config.ModelType }

// NewRandom returns a model with cfg's shape and freshly initialized weights
// (GPT-2's initialization: normal with initializer_range, 0.02 by default;
// LayerNorms 1 and 0), for training from scratch and benchmarks.
func NewRandom(cfg *Config, seed uint64, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	sp, err := specs(cfg)
	if err != nil {
		return nil, err
	}
	set := modeling.RandomWeights(sp, seed, cfg.InitializerRange)
	// As GPT-2 (and Hugging Face's _init_weights): the projections back into
	// the residual stream (attn.c_proj, mlp.c_proj: the row-parallel ones)
	// get std/sqrt(2·n_layer).
	div := float32(math.Sqrt(2 * float64(cfg.NLayer)))
	for _, s := range sp {
		if s.Role != modeling.RowParallel {
			continue
		}
		t, _ := set.Get(s.Name)
		t.MutableFlatData(func(flat any) {
			for j, v := range flat.([]float32) {
				flat.([]float32)[j] = v / div
			}
		})
	}
	return New(cfg, set, backend)
}
