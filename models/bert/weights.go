package bert

import (
	"fmt"
	"slices"
	"strings"

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
