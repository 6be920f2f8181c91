// Package pipeline gives the task-shaped entry points a Hugging Face user
// expects — text generation, fill-mask, feature extraction, text
// classification, token classification and extractive question answering,
// and sentence-transformers' sentence embeddings —
// each loading its model and tokenizer from one path (a Hugging Face folder
// or a Hub name).
//
// Each constructor checks that the model fits the task and says which model
// the task needs when it does not.
package pipeline

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// load resolves path and loads its model and tokenizer.
func load(path string, backend compute.Backend) (models.Model, *tokenizer.Tokenizer, error) {
	dir, err := models.Resolve(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := models.Load(dir, backend)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

// encoder loads a BERT model with the head a task needs.
func encoder(task, path string, backend compute.Backend, heads ...bert.Head) (*bert.Model, *tokenizer.Tokenizer, error) {
	m, tok, err := load(path, backend)
	if err != nil {
		return nil, nil, err
	}
	b, ok := m.(*bert.Model)
	if !ok {
		return nil, nil, fmt.Errorf("%s: %s needs a BERT model; %s is a %q model", path, task, path, m.ModelType())
	}
	for _, h := range heads {
		if b.Head == h {
			return b, tok, nil
		}
	}
	return nil, nil, fmt.Errorf("%s: %s needs a BERT checkpoint with a %v head; this one has a %q head", path, task, heads, b.Head)
}

// TextGeneration generates text from a causal language model.
type TextGeneration struct {
	*generate.Generator
	// Defaults are the options the model folder's generation_config.json
	// asks for (the zero Options when it has none); pass them, changed as
	// needed, to Generate.
	Defaults generate.Options
}

// NewTextGeneration loads a GPT-2, LLaMA or Mistral model and its tokenizer.
func NewTextGeneration(path string, backend compute.Backend) (*TextGeneration, error) {
	m, tok, err := load(path, backend)
	if err != nil {
		return nil, err
	}
	lm, ok := m.(models.CausalLM)
	if !ok {
		return nil, fmt.Errorf("%s: text generation needs a causal language model (gpt2, llama, mistral); this is a %q model", path, m.ModelType())
	}
	var defaults generate.Options
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		if defaults, err = generate.ReadGenerationConfig(path); err != nil {
			return nil, err
		}
	}
	return &TextGeneration{Generator: &generate.Generator{Model: lm, Tokenizer: tok}, Defaults: defaults}, nil
}

// Prediction is one candidate token for a [MASK].
type Prediction struct {
	ID    int32
	Token string
	Score float64
	// Sequence is the input with this token in the mask's place.
	Sequence string
}

// FillMask predicts the tokens hidden behind [MASK] with a masked-LM model.
type FillMask struct {
	Model     *bert.Model
	Tokenizer *tokenizer.Tokenizer
}

// NewFillMask loads a BERT masked-LM checkpoint and its tokenizer.
func NewFillMask(path string, backend compute.Backend) (*FillMask, error) {
	m, tok, err := encoder("fill-mask", path, backend, bert.MaskedLM)
	if err != nil {
		return nil, err
	}
	if !tok.Special.Has(tok.Special.MASK) {
		return nil, fmt.Errorf("%s: fill-mask: the tokenizer has no [MASK] token", path)
	}
	return &FillMask{m, tok}, nil
}

// Run returns, for every mask token in text, the topK most likely tokens.
func (p *FillMask) Run(text string, topK int) ([][]Prediction, error) {
	ids := p.Tokenizer.EncodeWith(text, tokenizer.EncodeOptions{MaxLength: p.Model.Config.MaxPositionEmbeddings})
	out, err := p.Model.Forward(modeling.Batch{IDs: [][]int32{ids}}, modeling.ForwardOptions{})
	if err != nil {
		return nil, err
	}
	logits, err := tensors.CopyFlatData[float32](out.Logits)
	if err != nil {
		return nil, err
	}
	v := p.Model.Config.VocabSize
	var all [][]Prediction
	for pos, id := range ids {
		if id != p.Tokenizer.Special.MASK {
			continue
		}
		probs := softmax(logits[pos*v : (pos+1)*v])
		var preds []Prediction
		for _, cand := range topIndices(probs, topK) {
			filled := slices.Clone(ids)
			filled[pos] = int32(cand)
			tokStr, _ := p.Tokenizer.IDToToken(int32(cand))
			preds = append(preds, Prediction{ID: int32(cand), Token: tokStr, Score: probs[cand], Sequence: p.Tokenizer.Decode(filled, true)})
		}
		all = append(all, preds)
	}
	if all == nil {
		return nil, fmt.Errorf("fill-mask: %q has no mask token (write it as %q)", text, mustToken(p.Tokenizer, p.Tokenizer.Special.MASK))
	}
	return all, nil
}

// Pooling says how FeatureExtraction turns token vectors into one vector.
type Pooling int

const (
	// MeanPooling averages the vectors of the real (unpadded) tokens.
	MeanPooling Pooling = iota
	// CLSPooling takes the first token's vector ([CLS]).
	CLSPooling
)

// FeatureExtraction turns texts into vectors with a BERT encoder, as
// Hugging Face's feature-extraction pipeline does: texts are cut at the
// model's max_position_embeddings, and pooling and normalization are the
// caller's choice. A sentence-transformers model says in its own files how
// it cuts, pools and normalizes: SentenceEmbedding reads them.
type FeatureExtraction struct {
	Model     *bert.Model
	Tokenizer *tokenizer.Tokenizer
}

// NewFeatureExtraction loads any BERT checkpoint (its head is not used).
func NewFeatureExtraction(path string, backend compute.Backend) (*FeatureExtraction, error) {
	m, tok, err := encoder("feature extraction", path, backend,
		bert.Base, bert.MaskedLM, bert.SequenceClassification, bert.TokenClassification, bert.QuestionAnswering)
	if err != nil {
		return nil, err
	}
	return &FeatureExtraction{m, tok}, nil
}

// Embed returns one vector per text, pooled as asked and, with normalize,
// scaled to unit length (for cosine similarity by dot product).
func (p *FeatureExtraction) Embed(texts []string, pooling Pooling, normalize bool) ([][]float32, error) {
	b, out, err := encodeBatch(p.Model, p.Tokenizer, texts, p.Model.Config.MaxPositionEmbeddings)
	if err != nil {
		return nil, err
	}
	modes := []string{PoolMean}
	if pooling == CLSPooling {
		modes = []string{PoolCLS}
	}
	return pooled(b, out, p.Model.Config.HiddenSize, 0, modes, normalize)
}

// encodeBatch encodes texts padded to the longest (each cut at maxLen
// tokens) and runs the encoder over them.
func encodeBatch(m *bert.Model, tok *tokenizer.Tokenizer, texts []string, maxLen int) (*tokenizer.Batch, *bert.Output, error) {
	opts := tokenizer.BatchOptions{Padding: tokenizer.PadLongest,
		EncodeOptions: tokenizer.EncodeOptions{MaxLength: maxLen}}
	if !tok.Special.Has(tok.Special.PAD) {
		opts.PadID = new(int32) // masked out, so any id does; BERT's [PAD] is 0
	}
	b, err := tok.EncodeBatch(texts, opts)
	if err != nil {
		return nil, nil, err
	}
	out, err := m.Forward(modeling.Batch{IDs: b.IDs, AttentionMask: b.AttentionMask}, modeling.ForwardOptions{})
	if err != nil {
		return nil, nil, err
	}
	return b, out, nil
}

// Label is a class and its probability.
type Label struct {
	Label string
	Score float64
}

// TextClassification classifies texts with a sequence-classification head.
type TextClassification struct {
	Model     *bert.Model
	Tokenizer *tokenizer.Tokenizer
}

// NewTextClassification loads a BertForSequenceClassification checkpoint.
func NewTextClassification(path string, backend compute.Backend) (*TextClassification, error) {
	m, tok, err := encoder("text classification", path, backend, bert.SequenceClassification)
	if err != nil {
		return nil, err
	}
	return &TextClassification{m, tok}, nil
}

// Run returns every label of each text with its probability, most likely first.
func (p *TextClassification) Run(texts []string) ([][]Label, error) {
	_, out, err := encodeBatch(p.Model, p.Tokenizer, texts, p.Model.Config.MaxPositionEmbeddings)
	if err != nil {
		return nil, err
	}
	logits, err := tensors.CopyFlatData[float32](out.Logits)
	if err != nil {
		return nil, err
	}
	n := p.Model.Config.NumLabels()
	res := make([][]Label, len(texts))
	for i := range texts {
		probs := softmax(logits[i*n : (i+1)*n])
		for _, c := range topIndices(probs, n) {
			res[i] = append(res[i], Label{Label: labelName(p.Model.Config, c), Score: probs[c]})
		}
	}
	return res, nil
}

// Entity is one token's predicted label.
type Entity struct {
	// Index is the token's position in the encoding; Token its text.
	Index int
	Token string
	Label string
	Score float64
}

// TokenClassification labels every token (named entities, parts of speech)
// with a token-classification head.
type TokenClassification struct {
	Model     *bert.Model
	Tokenizer *tokenizer.Tokenizer
}

// NewTokenClassification loads a BertForTokenClassification checkpoint.
func NewTokenClassification(path string, backend compute.Backend) (*TokenClassification, error) {
	m, tok, err := encoder("token classification", path, backend, bert.TokenClassification)
	if err != nil {
		return nil, err
	}
	return &TokenClassification{m, tok}, nil
}

// Run returns the most likely label of every token of text except the
// special tokens.
func (p *TokenClassification) Run(text string) ([]Entity, error) {
	ids := p.Tokenizer.EncodeWith(text, tokenizer.EncodeOptions{MaxLength: p.Model.Config.MaxPositionEmbeddings})
	out, err := p.Model.Forward(modeling.Batch{IDs: [][]int32{ids}}, modeling.ForwardOptions{})
	if err != nil {
		return nil, err
	}
	logits, err := tensors.CopyFlatData[float32](out.Logits)
	if err != nil {
		return nil, err
	}
	n := p.Model.Config.NumLabels()
	var ents []Entity
	for i, id := range ids {
		if p.Tokenizer.IsSpecial(id) {
			continue
		}
		probs := softmax(logits[i*n : (i+1)*n])
		best := topIndices(probs, 1)[0]
		tok, _ := p.Tokenizer.IDToToken(id)
		ents = append(ents, Entity{Index: i, Token: tok, Label: labelName(p.Model.Config, best), Score: probs[best]})
	}
	return ents, nil
}

// Answer is a span of the context that answers a question.
type Answer struct {
	// Text is the answer, decoded from its tokens (normalized as the
	// tokenizer normalizes, e.g. lower-cased for uncased BERT).
	Text string
	// Start and End are the span's first and last token positions in the
	// encoding of the question and context.
	Start, End int
	// Score is P(start)·P(end), each probability over the context's
	// tokens only, as Hugging Face's question-answering pipeline gives it.
	Score float64
}

// QuestionAnswering extracts answers from a context with a QA head.
type QuestionAnswering struct {
	Model     *bert.Model
	Tokenizer *tokenizer.Tokenizer
	// MaxAnswerTokens bounds the answer length (default 15, as Hugging Face).
	MaxAnswerTokens int
}

// NewQuestionAnswering loads a BertForQuestionAnswering checkpoint.
func NewQuestionAnswering(path string, backend compute.Backend) (*QuestionAnswering, error) {
	m, tok, err := encoder("question answering", path, backend, bert.QuestionAnswering)
	if err != nil {
		return nil, err
	}
	return &QuestionAnswering{Model: m, Tokenizer: tok, MaxAnswerTokens: 15}, nil
}

// Run returns the best-scoring span of context, within the context's tokens.
func (p *QuestionAnswering) Run(question, context string) (*Answer, error) {
	ids, types := p.Tokenizer.EncodePair(question, context, tokenizer.EncodeOptions{MaxLength: p.Model.Config.MaxPositionEmbeddings})
	out, err := p.Model.Forward(modeling.Batch{IDs: [][]int32{ids}, TokenTypeIDs: [][]int32{types}}, modeling.ForwardOptions{})
	if err != nil {
		return nil, err
	}
	start, err := tensors.CopyFlatData[float32](out.StartLogits)
	if err != nil {
		return nil, err
	}
	end, err := tensors.CopyFlatData[float32](out.EndLogits)
	if err != nil {
		return nil, err
	}
	inContext := func(i int) bool { return types[i] == 1 && !p.Tokenizer.IsSpecial(ids[i]) }
	ps, pe := softmax(contextOnly(start, inContext)), softmax(contextOnly(end, inContext))
	var best *Answer
	for s := range ids {
		if !inContext(s) {
			continue
		}
		for e := s; e < len(ids) && e < s+p.MaxAnswerTokens && inContext(e); e++ {
			if score := ps[s] * pe[e]; best == nil || score > best.Score {
				best = &Answer{Start: s, End: e, Score: score}
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("question answering: the context is empty after tokenization")
	}
	best.Text = p.Tokenizer.Decode(ids[best.Start:best.End+1], true)
	return best, nil
}

// contextOnly returns logits with those of the positions outside the
// context at -Inf, so that a softmax spreads over the context alone.
func contextOnly(logits []float32, inContext func(int) bool) []float32 {
	out := make([]float32, len(logits))
	for i, l := range logits {
		out[i] = float32(math.Inf(-1))
		if inContext(i) {
			out[i] = l
		}
	}
	return out
}

func labelName(c *bert.Config, i int) string {
	if name, ok := c.ID2Label[fmt.Sprint(i)]; ok {
		return name
	}
	return fmt.Sprintf("LABEL_%d", i)
}

func mustToken(t *tokenizer.Tokenizer, id int32) string {
	s, _ := t.IDToToken(id)
	return s
}

func softmax(logits []float32) []float64 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	out := make([]float64, len(logits))
	sum := 0.0
	for i, l := range logits {
		out[i] = math.Exp(float64(l) - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func topIndices(probs []float64, k int) []int {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	return idx[:min(k, len(idx))]
}
