// Package bert is Google's BERT encoder, as Hugging Face's BertModel computes
// it: word, position and token-type (segment) embeddings, post-LayerNorm
// blocks of bidirectional self-attention under a padding mask and an exact-GELU
// MLP, and a tanh pooler over the first token, with the task heads of
// BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification
// and BertForQuestionAnswering.
//
// Load reads a Hugging Face folder and picks the head from the checkpoint's
// tensors; weights keep their checkpoint names, with or without "bert.".
package bert

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Model is a BERT encoder with the task head its checkpoint carries.
type Model struct {
	Config  *Config
	Head    Head
	Backend compute.Backend
	pooler  bool
	run     *modeling.Runner
}

// Output is a BERT forward pass: Logits hold the head's output (masked-LM
// [B, T, vocab], sequence classification [B, labels], token classification
// [B, T, labels]; nil for the bare encoder and for question answering, whose
// logits are StartLogits and EndLogits [B, T]).
type Output struct {
	modeling.Output
	// Sequence is the last layer's output [B, T, hidden].
	Sequence *tensors.Tensor
	// Pooled is tanh(dense(Sequence[:, 0])) [B, hidden], when the checkpoint has a pooler.
	Pooled                 *tensors.Tensor
	StartLogits, EndLogits *tensors.Tensor
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
	normalizeNames(set)
	head, err := detectHead(cfg, set)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if has(set, "bert.embeddings.word_embeddings.weight") {
		prefix = "bert."
	}
	pooler := has(set, prefix+"pooler.dense.weight")
	if head == SequenceClassification && !pooler {
		return nil, fmt.Errorf("%s: sequence classification needs the pooler (tensor %q missing)", set.Source, prefix+"pooler.dense.weight")
	}
	m := &Model{Config: cfg, Head: head, Backend: backend, pooler: pooler}
	encoder, err := m.specs(false)
	if err != nil {
		return nil, err
	}
	sp, err := m.specs(true)
	if err != nil {
		return nil, err
	}
	inEncoder := map[string]bool{}
	for _, s := range encoder {
		inEncoder[s.Name] = true
	}
	if err := modeling.CheckLayers(set, "num_hidden_layers", cfg.NumHiddenLayers); err != nil {
		return nil, err
	}
	// Encoder weights carry the "bert." prefix in head checkpoints; head weights never do.
	name := func(n string) string {
		if inEncoder[n] {
			return prefix + n
		}
		return n
	}
	params, err := modeling.LoadSpecsTo(backend, set, sp, modeling.Checkpoint{Name: name, Unread: buffers})
	if err != nil {
		return nil, err
	}
	m.run = modeling.NewRunner(params, backend)
	return m, nil
}

// Save writes config.json and model.safetensors (encoder under "bert." when
// there is a head, as Hugging Face's head classes save it) to dir.
func (m *Model) Save(dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	if m.Head != Base {
		encoder, err := m.specs(false)
		if err != nil {
			return err
		}
		for _, s := range encoder {
			set.Rename(s.Name, "bert."+s.Name)
		}
	}
	return modeling.SaveModel(dir, set, m.Config)
}

// Forward encodes b: token type ids default to 0, positions to 0..T-1, and
// the attention mask to all ones.
func (m *Model) Forward(b modeling.Batch, opts modeling.ForwardOptions) (*Output, error) {
	ids, mask, err := b.Inputs(m.Config.VocabSize, m.Config.MaxPositionEmbeddings)
	if err != nil {
		return nil, fmt.Errorf("bert: %w", err)
	}
	if err := modeling.CheckIDs(b.TokenTypeIDs, m.Config.TypeVocabSize, "token type ids"); err != nil {
		return nil, err
	}
	types, err := modeling.Matrix(b.TokenTypeIDs, len(b.IDs), len(b.IDs[0]), "token type ids", 0)
	if err != nil {
		return nil, err
	}
	hooks, err := opts.HookInputs(len(b.IDs[0]))
	if err != nil {
		return nil, err
	}
	e, err := m.run.Program(opts.Key(), func(in []*Node) []*Node {
		in = opts.AttachHooks(in, 3)
		s := modeling.NewScope(in[0].Graph(), m.Params(), true)
		seq, hidden, probs := m.encoder(s, in[0], in[1], in[2])
		return opts.Outputs(append([]*Node{seq}, m.heads(s, seq)...), hidden, probs)
	})
	if err != nil {
		return nil, err
	}
	res, err := e.Call(append([]any{ids, types, mask}, hooks...)...)
	if err != nil {
		return nil, opts.HookError(err)
	}
	head, extra := opts.Split(res, m.Config.NumHiddenLayers)
	out := &Output{Output: extra, Sequence: head[0]}
	head = head[1:]
	if m.pooler {
		out.Pooled, head = head[0], head[1:]
	}
	switch m.Head {
	case MaskedLM, SequenceClassification, TokenClassification:
		out.Logits = head[0]
	case QuestionAnswering:
		out.StartLogits, out.EndLogits = head[0], head[1]
	}
	return out, nil
}

// HeadGraph builds the encoder and the task head inside a graph, for
// trainers (training.MaskedLMLoss, training.SequenceClassificationLoss):
// ids, token types and attention mask [B, T] (int32) in, the head's
// outputs out (as Forward's: the masked-LM or classification logits, or
// the start and end logits; the sequence output for the bare encoder).
// Dropout acts in a trainer's step graphs.
func (m *Model) HeadGraph(ids, types, mask *Node) []*Node {
	s := modeling.NewScope(ids.Graph(), m.Params(), false)
	seq, _, _ := m.encoder(s, ids, types, mask)
	if m.Head == Base {
		return []*Node{seq}
	}
	return m.head(s, seq, m.pool(s, seq))
}

// encoder is BertModel without the pooler: it returns the sequence output,
// the hidden states (embeddings, then each layer's output) and the attention
// probabilities. Each weight is named, shaped and given its role here, where
// it is used (see modeling.Scope).
func (m *Model) encoder(s modeling.Scope, ids, types, mask *Node) (*Node, []*Node, []*Node) {
	c := m.Config
	g := s.Graph()
	d, t := c.HiddenSize, ids.Shape().Dimensions[1]
	col, row := modeling.ColumnParallel, modeling.RowParallel
	positions := BroadcastToDims(InsertAxes(Iota(g, shapes.Make(dtypes.Int32, t), 0), 0), ids.Shape().Dimensions...)

	e := s.At("embeddings")
	words := e.Weight("word_embeddings.weight", modeling.Embedding, c.VocabSize, d)
	places := e.Weight("position_embeddings.weight", modeling.Whole, c.MaxPositionEmbeddings, d)
	segments := e.Weight("token_type_embeddings.weight", modeling.Whole, c.TypeVocabSize, d)
	x := Add(Add(s.EmbedIn(words, ids), s.EmbedIn(segments, types)), s.EmbedIn(places, positions))
	x = s.Dropout(e.LayerNorm(x, "LayerNorm", c.LayerNormEps), c.HiddenDropoutProb)

	allowed := modeling.AllowedKeys(Iota(g, shapes.Make(dtypes.Int32, t), 0), t, mask, false, 0)
	act := modeling.Activation(c.HiddenAct)
	hidden, probs := []*Node{x}, []*Node{}
	for i := range c.NumHiddenLayers {
		l := s.At("encoder.layer.%d", i)
		x = s.Block(x)
		heads := func(name string) *Node {
			return modeling.SplitHeads(l.Linear(x, name, col, d, true), c.NumAttentionHeads, c.HeadDim())
		}
		q, k, v := heads("attention.self.query"), heads("attention.self.key"), heads("attention.self.value")
		a, pr := s.AttendWith(q, k, v, allowed, modeling.AttendOptions{Scale: 1 / math.Sqrt(float64(c.HeadDim())),
			Dropout: c.AttentionProbsDropoutProb, Pattern: func(p *Node) *Node { return s.Hook(modeling.HookAttnPattern, p) }})
		probs = append(probs, pr)
		attended := s.Dropout(l.Linear(modeling.MergeHeads(a), "attention.output.dense", row, d, true), c.HiddenDropoutProb)
		x = s.Hook(modeling.HookAttnOut, l.LayerNorm(Add(attended, x), "attention.output.LayerNorm", c.LayerNormEps))
		h := act(l.Linear(x, "intermediate.dense", col, c.IntermediateSize, true))
		x = l.LayerNorm(Add(s.Dropout(l.Linear(h, "output.dense", row, d, true), c.HiddenDropoutProb), x), "output.LayerNorm", c.LayerNormEps)
		hidden = append(hidden, x)
	}
	return s.EndBlocks(x), hidden, probs
}

// heads returns the pooled output (when there is a pooler) and the task
// head's logits.
func (m *Model) heads(s modeling.Scope, seq *Node) []*Node {
	var outs []*Node
	pooled := m.pool(s, seq)
	if pooled != nil {
		outs = append(outs, pooled)
	}
	return append(outs, m.head(s, seq, pooled)...)
}

// pool is BertPooler, tanh(dense(seq[:, 0])), or nil without a pooler.
func (m *Model) pool(s modeling.Scope, seq *Node) *Node {
	if !m.pooler {
		return nil
	}
	first := Squeeze(SliceAxis(seq, 1, AxisRange(0, 1)), 1)
	return Tanh(s.Linear(first, "pooler.dense", modeling.Whole, m.Config.HiddenSize, true))
}

// head returns the task head's logits.
func (m *Model) head(s modeling.Scope, seq, pooled *Node) []*Node {
	c := m.Config
	whole := modeling.Whole
	switch m.Head {
	case MaskedLM:
		t := s.At("cls.predictions.transform")
		h := t.LayerNorm(modeling.Activation(c.HiddenAct)(t.Linear(seq, "dense", whole, c.HiddenSize, true)), "LayerNorm", c.LayerNormEps)
		words := s.Weight("embeddings.word_embeddings.weight", modeling.Embedding, c.VocabSize, c.HiddenSize)
		logits := Einsum("btd,vd->btv", h, words) // the decoder is tied to the embeddings
		bias := s.Weight("cls.predictions.bias", modeling.ColumnBias, c.VocabSize)
		return []*Node{Add(logits, modeling.Like(bias, logits))}
	case SequenceClassification:
		return []*Node{s.Linear(pooled, "classifier", whole, c.NumLabels(), true)}
	case TokenClassification:
		return []*Node{s.Linear(seq, "classifier", whole, c.NumLabels(), true)}
	case QuestionAnswering:
		both := s.Linear(seq, "qa_outputs", whole, 2, true)
		return []*Node{Squeeze(SliceAxis(both, -1, AxisRange(0, 1)), -1), Squeeze(SliceAxis(both, -1, AxisRange(1, 2)), -1)}
	}
	return nil
}

// specs lists the weights the network declares: BertModel's (with the
// pooler when the model has one), and with withHead the task head's after
// them. Names are without the "bert." prefix.
func (m *Model) specs(withHead bool) ([]modeling.Spec, error) {
	sp, err := modeling.DeclareWeights(func(s modeling.Scope) {
		g := s.Graph()
		one := shapes.Make(dtypes.Int32, 1, 1)
		seq, _, _ := m.encoder(s, Zeros(g, one), Zeros(g, one), Ones(g, one))
		pooled := m.pool(s, seq)
		if withHead {
			m.head(s, seq, pooled)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bert: %w", err)
	}
	return sp, nil
}

// Params returns the model's weights.
func (m *Model) Params() *modeling.Params { return m.run.Params() }

// ModelType returns "bert".
func (m *Model) ModelType() string { return m.Config.ModelType }

// NewRandom returns a model with cfg's shape, the given head and freshly
// initialized weights (normal with initializer_range, 0.02 by default;
// LayerNorms 1 and 0; with a pooler), for training and benchmarks.
func NewRandom(cfg *Config, head Head, seed uint64, backend compute.Backend) (*Model, error) {
	if err := cfg.check("config"); err != nil {
		return nil, err
	}
	specs, err := (&Model{Config: cfg, Head: head, pooler: true}).specs(true)
	if err != nil {
		return nil, err
	}
	set := modeling.RandomWeights(specs, seed, cfg.InitializerRange)
	switch head {
	case SequenceClassification:
		cfg.Architectures = []string{"BertForSequenceClassification"}
	case TokenClassification:
		cfg.Architectures = []string{"BertForTokenClassification"}
	}
	return New(cfg, set, backend)
}
