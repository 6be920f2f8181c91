package pipeline_test

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/pipeline"
	"github.com/trustformers/trustformers-go/xla"
)

// The examples run on tiny random models (models/testdata/golden) with
// their own small tokenizers, so their answers make no sense; but each
// output is what Hugging Face's pipeline answers on the same model and input
// (models/testdata/golden/pipelines.json, written by
// scripts/reference/pipelines.py; TestPipelinesMatchHuggingFace checks the
// scores to 1e-5).

func ExampleNewTextGeneration() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	p, err := pipeline.NewTextGeneration(filepath.Join(golden.Dir("gpt2"), "pipeline"), backend)
	if err != nil {
		panic(err)
	}
	r, err := p.Generate("the sea", generate.Options{MaxNewTokens: 8}) // greedy
	if err != nil {
		panic(err)
	}
	fmt.Println(r.IDs, r.Reason)
	// Output: [220 220 220 220 220 220 220 220] length
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
	for _, c := range preds[0] {
		fmt.Printf("%s %.4f\n", c.Token, c.Score)
	}
	// Output:
	// england 0.1283
	// they 0.0647
	// [SEP] 0.0571
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
	for _, v := range vecs {
		fmt.Printf("%d dimensions: %.4f %.4f %.4f …\n", len(v), v[0], v[1], v[2])
	}
	// Output:
	// 32 dimensions: -0.1704 -0.2532 -0.0639 …
	// 32 dimensions: -0.0553 -0.1851 -0.0581 …
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
	for _, ls := range labels {
		var line []string
		for _, l := range ls {
			line = append(line, fmt.Sprintf("%s %.4f", l.Label, l.Score))
		}
		fmt.Println(strings.Join(line, ", "))
	}
	// Output:
	// LABEL_0 0.5993, LABEL_2 0.2526, LABEL_1 0.1481
	// LABEL_0 0.5975, LABEL_2 0.2832, LABEL_1 0.1193
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
		fmt.Printf("%d %s %s %.4f\n", e.Index, e.Token, e.Label, e.Score)
	}
	// Output:
	// 1 the LABEL_3 0.3515
	// 2 king LABEL_2 0.4867
	// 3 of LABEL_4 0.4303
	// 4 england LABEL_3 0.4483
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
	fmt.Printf("%q, tokens %d to %d, score %.4f\n", a.Text, a.Start, a.End, a.Score)
	// Output: "the capital", tokens 11 to 12, score 0.2599
}
