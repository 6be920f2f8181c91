package pipeline_test

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/pipeline"
	"github.com/trustformers/trustformers-go/xla"
)

// The examples run on tiny random models (models/testdata/golden) with
// their own small tokenizers: the numbers are meaningless, the shapes are not.

func ExampleNewTextGeneration() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	p, err := pipeline.NewTextGeneration(filepath.Join(golden.Dir("gpt2"), "pipeline"), backend)
	if err != nil {
		panic(err)
	}
	r, err := p.Generate("the sea", generate.Options{MaxNewTokens: 8})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(r.IDs), "tokens,", r.Reason)
	// Output: 8 tokens, length
}

func ExampleNewFillMask() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	p, err := pipeline.NewFillMask(filepath.Join(golden.Dir("bert"), "model"), backend)
	if err != nil {
		panic(err)
	}
	preds, err := p.Run("paris is the [MASK] of france", 3)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(preds), "mask,", len(preds[0]), "candidates")
	// Output: 1 mask, 3 candidates
}

func ExampleNewFeatureExtraction() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	p, err := pipeline.NewFeatureExtraction(filepath.Join(golden.Dir("bert"), "model-base"), backend)
	if err != nil {
		panic(err)
	}
	vecs, err := p.Embed([]string{"the king", "the old queen of the castle"}, pipeline.MeanPooling, true)
	if err != nil {
		panic(err)
	}
	norm := 0.0
	for _, x := range vecs[1] {
		norm += float64(x * x)
	}
	fmt.Printf("%d vectors of %d, norm %.3f\n", len(vecs), len(vecs[0]), norm)
	// Output: 2 vectors of 32, norm 1.000
}

func ExampleNewTextClassification() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	p, err := pipeline.NewTextClassification(filepath.Join(golden.Dir("bert"), "seqcls"), backend)
	if err != nil {
		panic(err)
	}
	labels, err := p.Run([]string{"good day", "a bad storm at sea"})
	if err != nil {
		panic(err)
	}
	sum := 0.0
	for _, l := range labels[0] {
		sum += l.Score
	}
	fmt.Printf("%d texts, %d labels each, probabilities sum to %.3f\n", len(labels), len(labels[0]), sum)
	// Output: 2 texts, 3 labels each, probabilities sum to 1.000
}

func ExampleNewTokenClassification() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	p, err := pipeline.NewTokenClassification(filepath.Join(golden.Dir("bert"), "tokcls"), backend)
	if err != nil {
		panic(err)
	}
	ents, err := p.Run("the king of england")
	if err != nil {
		panic(err)
	}
	for _, e := range ents {
		fmt.Print(e.Token, " ")
	}
	fmt.Println()
	// Output: the king of england
}

func ExampleNewQuestionAnswering() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	p, err := pipeline.NewQuestionAnswering(filepath.Join(golden.Dir("bert"), "qa"), backend)
	if err != nil {
		panic(err)
	}
	a, err := p.Run("what is the capital of france?", "paris is the capital of france.")
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Start <= a.End, a.Text != "")
	// Output: true true
}
