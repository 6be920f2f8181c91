package bert

import (
	"fmt"
	"slices"
	"strings"

	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Head names the task head a checkpoint carries.
type Head string

// The heads of Hugging Face's BERT classes.
const (
	Base                   Head = "base"                    // BertModel: sequence and pooled outputs
	MaskedLM               Head = "masked-lm"               // BertForMaskedLM / BertForPreTraining
	SequenceClassification Head = "sequence-classification" // BertForSequenceClassification
	TokenClassification    Head = "token-classification"    // BertForTokenClassification
	QuestionAnswering      Head = "question-answering"      // BertForQuestionAnswering
)

// encoderSpecs lists BertModel's weights (without the "bert." prefix), with
// their roles.
func encoderSpecs(c *Config, pooler bool) []modeling.Spec {
	d, inter := c.HiddenSize, c.IntermediateSize
	col, bias, row, whole := modeling.ColumnParallel, modeling.ColumnBias, modeling.RowParallel, modeling.Whole
	s := []modeling.Spec{
		{Name: "embeddings.word_embeddings.weight", Dims: []int{c.VocabSize, d}, Role: modeling.Embedding},
		{Name: "embeddings.position_embeddings.weight", Dims: []int{c.MaxPositionEmbeddings, d}},
		{Name: "embeddings.token_type_embeddings.weight", Dims: []int{c.TypeVocabSize, d}},
		{Name: "embeddings.LayerNorm.weight", Dims: []int{d}}, {Name: "embeddings.LayerNorm.bias", Dims: []int{d}},
	}
	for i := range c.NumHiddenLayers {
		l := func(n string, role modeling.Role, dims ...int) modeling.Spec {
			return modeling.Spec{Name: fmt.Sprintf("encoder.layer.%d.%s", i, n), Dims: dims, Role: role}
		}
		for _, n := range []string{"attention.self.query", "attention.self.key", "attention.self.value"} {
			s = append(s, l(n+".weight", col, d, d), l(n+".bias", bias, d))
		}
		s = append(s, l("attention.output.dense.weight", row, d, d), l("attention.output.dense.bias", whole, d),
			l("attention.output.LayerNorm.weight", whole, d), l("attention.output.LayerNorm.bias", whole, d),
			l("intermediate.dense.weight", col, inter, d), l("intermediate.dense.bias", bias, inter),
			l("output.dense.weight", row, d, inter), l("output.dense.bias", whole, d),
			l("output.LayerNorm.weight", whole, d), l("output.LayerNorm.bias", whole, d))
	}
	if pooler {
		s = append(s, modeling.Spec{Name: "pooler.dense.weight", Dims: []int{d, d}}, modeling.Spec{Name: "pooler.dense.bias", Dims: []int{d}})
	}
	return s
}

// headSpecs lists the weights of a task head (names as the checkpoint has
// them). The masked-LM head's decoder is the word embedding (tied), whose
// vocabulary bias splits with it.
func headSpecs(c *Config, head Head) []modeling.Spec {
	d := c.HiddenSize
	switch head {
	case MaskedLM:
		return []modeling.Spec{
			{Name: "cls.predictions.transform.dense.weight", Dims: []int{d, d}},
			{Name: "cls.predictions.transform.dense.bias", Dims: []int{d}},
			{Name: "cls.predictions.transform.LayerNorm.weight", Dims: []int{d}},
			{Name: "cls.predictions.transform.LayerNorm.bias", Dims: []int{d}},
			{Name: "cls.predictions.bias", Dims: []int{c.VocabSize}, Role: modeling.ColumnBias},
		}
	case SequenceClassification, TokenClassification:
		n := c.NumLabels()
		return []modeling.Spec{{Name: "classifier.weight", Dims: []int{n, d}}, {Name: "classifier.bias", Dims: []int{n}}}
	case QuestionAnswering:
		return []modeling.Spec{{Name: "qa_outputs.weight", Dims: []int{2, d}}, {Name: "qa_outputs.bias", Dims: []int{2}}}
	}
	return nil
}

// buffers reports the checkpoint tensors that are not weights we read: the
// position-id buffer, the masked-LM decoder (the word embedding, tied, with
// its bias cls.predictions.bias) and BertForPreTraining's next-sentence head.
func buffers(name string) bool {
	return strings.HasSuffix(name, "embeddings.position_ids") || strings.HasPrefix(name, "cls.predictions.decoder.") ||
		strings.HasPrefix(name, "cls.seq_relationship.")
}

// ArchitectureHead returns the head config.json's architectures name
// (BertModel, or no architectures: Base).
func (c *Config) ArchitectureHead() Head {
	for _, a := range c.Architectures {
		switch a {
		case "BertForMaskedLM", "BertForPreTraining":
			return MaskedLM
		case "BertForSequenceClassification":
			return SequenceClassification
		case "BertForTokenClassification":
			return TokenClassification
		case "BertForQuestionAnswering":
			return QuestionAnswering
		}
	}
	return Base
}

// detectHead picks the head from the checkpoint's tensors; a "classifier"
// is told apart by the config's architectures.
func detectHead(c *Config, set *weights.Set) (Head, error) {
	switch {
	case has(set, "cls.predictions.bias"):
		return MaskedLM, nil
	case has(set, "qa_outputs.weight"):
		return QuestionAnswering, nil
	case has(set, "classifier.weight"):
		switch {
		case slices.Contains(c.Architectures, "BertForTokenClassification"):
			return TokenClassification, nil
		case slices.Contains(c.Architectures, "BertForSequenceClassification"):
			return SequenceClassification, nil
		}
		return "", fmt.Errorf("%s: has a \"classifier\" head but config field \"architectures\" (%v) names neither BertForSequenceClassification nor BertForTokenClassification",
			set.Source, c.Architectures)
	}
	return Base, nil
}

func has(set *weights.Set, name string) bool { return set.Has(name) }

// normalizeNames renames the LayerNorm.gamma/beta of original TensorFlow-era
// checkpoints to weight/bias, as Hugging Face does when loading.
func normalizeNames(set *weights.Set) {
	for _, n := range set.Names() {
		switch {
		case strings.HasSuffix(n, ".gamma"):
			set.Rename(n, strings.TrimSuffix(n, ".gamma")+".weight")
		case strings.HasSuffix(n, ".beta"):
			set.Rename(n, strings.TrimSuffix(n, ".beta")+".bias")
		}
	}
}
