package pipeline

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/generate"
)

// pipelinesReference is models/testdata/golden/pipelines.json: what Hugging
// Face's pipelines answer on the golden models
// (scripts/reference/pipelines.py).
type pipelinesReference struct {
	Generation struct {
		Prompt       string  `json:"prompt"`
		MaxNewTokens int     `json:"max_new_tokens"`
		IDs          []int32 `json:"new_token_ids"`
	} `json:"text-generation"`
	FillMask struct {
		Text string `json:"text"`
		Top  []struct {
			Token    int32   `json:"token"`
			TokenStr string  `json:"token_str"`
			Score    float64 `json:"score"`
		} `json:"top"`
	} `json:"fill-mask"`
	Features struct {
		Texts []string    `json:"texts"`
		Mean  [][]float64 `json:"mean_normalized"`
	} `json:"feature-extraction"`
	Classes struct {
		Texts  []string `json:"texts"`
		Labels [][]struct {
			Label string  `json:"label"`
			Score float64 `json:"score"`
		} `json:"labels"`
	} `json:"text-classification"`
	Tokens struct {
		Text   string `json:"text"`
		Tokens []struct {
			Index  int     `json:"index"`
			Word   string  `json:"word"`
			Entity string  `json:"entity"`
			Score  float64 `json:"score"`
		} `json:"tokens"`
	} `json:"token-classification"`
	QA struct {
		Question, Context string
		Answer            string  `json:"answer"`
		Score             float64 `json:"score"`
		StartToken        int     `json:"start_token"`
		EndToken          int     `json:"end_token"`
	} `json:"question-answering"`
}

// TestPipelinesMatchHuggingFace runs every pipeline on the golden models
// with the inputs of the examples and compares with what Hugging Face's
// pipelines answered: the same generated ids, candidates, labels, tokens
// and answer span, and scores and vectors to 1e-5.
func TestPipelinesMatchHuggingFace(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "pipelines.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref pipelinesReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func(*testing.T, *pipelinesReference){
		"text-generation": checkGeneration, "fill-mask": checkFillMask, "feature-extraction": checkFeatures,
		"text-classification": checkClasses, "token-classification": checkTokens, "question-answering": checkAnswer,
	} {
		t.Run(name, func(t *testing.T) { check(t, &ref) })
	}
}

// near reports got when it is more than 1e-5 from Hugging Face's want.
func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-5 {
		t.Errorf("%s: %.7f, Hugging Face %.7f", what, got, want)
	}
}

func bertDir(name string) string { return filepath.Join(golden.Dir("bert"), name) }

func checkGeneration(t *testing.T, ref *pipelinesReference) {
	gen, err := NewTextGeneration(filepath.Join(golden.Dir("gpt2"), "pipeline"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := gen.Generate(ref.Generation.Prompt, generate.Options{MaxNewTokens: ref.Generation.MaxNewTokens})
	if err != nil || !slices.Equal(r.IDs, ref.Generation.IDs) {
		t.Errorf("text generation: %v (%v), Hugging Face %v", r, err, ref.Generation.IDs)
	}
}

func checkFillMask(t *testing.T, ref *pipelinesReference) {
	fill, err := NewFillMask(bertDir("model"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	preds, err := fill.Run(ref.FillMask.Text, len(ref.FillMask.Top))
	if err != nil || len(preds) != 1 || len(preds[0]) != len(ref.FillMask.Top) {
		t.Fatalf("fill-mask: %v, %v", preds, err)
	}
	for i, c := range ref.FillMask.Top {
		if got := preds[0][i]; got.ID != c.Token || got.Token != c.TokenStr {
			t.Errorf("fill-mask candidate %d: %d %q, Hugging Face %d %q", i, got.ID, got.Token, c.Token, c.TokenStr)
		}
		near(t, "fill-mask score "+c.TokenStr, preds[0][i].Score, c.Score)
	}
}

func checkFeatures(t *testing.T, ref *pipelinesReference) {
	fe, err := NewFeatureExtraction(bertDir("model-base"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := fe.Embed(ref.Features.Texts, MeanPooling, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range ref.Features.Mean {
		for k, w := range want {
			near(t, "feature-extraction "+ref.Features.Texts[i], float64(vecs[i][k]), w)
		}
	}
}

func checkClasses(t *testing.T, ref *pipelinesReference) {
	cls, err := NewTextClassification(bertDir("seqcls"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	labels, err := cls.Run(ref.Classes.Texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range ref.Classes.Labels {
		for j, w := range want {
			if labels[i][j].Label != w.Label {
				t.Errorf("text classification %q, rank %d: %s, Hugging Face %s", ref.Classes.Texts[i], j, labels[i][j].Label, w.Label)
			}
			near(t, "text classification "+w.Label, labels[i][j].Score, w.Score)
		}
	}
}

func checkTokens(t *testing.T, ref *pipelinesReference) {
	tc, err := NewTokenClassification(bertDir("tokcls"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := tc.Run(ref.Tokens.Text)
	if err != nil || len(ents) != len(ref.Tokens.Tokens) {
		t.Fatalf("token classification: %v, %v; Hugging Face %d tokens", ents, err, len(ref.Tokens.Tokens))
	}
	for i, w := range ref.Tokens.Tokens {
		if e := ents[i]; e.Index != w.Index || e.Token != w.Word || e.Label != w.Entity {
			t.Errorf("token classification %d: %d %q %s, Hugging Face %d %q %s", i, e.Index, e.Token, e.Label, w.Index, w.Word, w.Entity)
		}
		near(t, "token classification "+w.Word, ents[i].Score, w.Score)
	}
}

func checkAnswer(t *testing.T, ref *pipelinesReference) {
	qa, err := NewQuestionAnswering(bertDir("qa"), golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := qa.Run(ref.QA.Question, ref.QA.Context)
	if err != nil {
		t.Fatal(err)
	}
	if a.Text != ref.QA.Answer || a.Start != ref.QA.StartToken || a.End != ref.QA.EndToken {
		t.Errorf("question answering: %q (tokens %d–%d), Hugging Face %q (%d–%d)", a.Text, a.Start, a.End, ref.QA.Answer, ref.QA.StartToken, ref.QA.EndToken)
	}
	near(t, "question answering score", a.Score, ref.QA.Score)
}
