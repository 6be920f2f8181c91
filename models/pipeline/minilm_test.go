package pipeline

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/weights"
)

// minilmReference reads the 200 sentences and what sentence-transformers
// and the model's own tokenizer made of them
// (scripts/reference/real_checkpoints.py).
func minilmReference(t *testing.T) (sentences []string, embeddings [][]float32, ids [][]int32) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "minilm")
	text, err := os.ReadFile(filepath.Join(dir, "sentences.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sentences = strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	ref, err := weights.ReadSafetensors(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/real_checkpoints.py)", err)
	}
	emb := golden.Float(t, ref, "embeddings")
	flat, dim := tensors.MustCopyFlatData[float32](emb), emb.Shape().Dimensions[1]
	for i := range len(flat) / dim {
		embeddings = append(embeddings, flat[i*dim:(i+1)*dim])
	}
	ids = golden.Rows(t, ref, "ids", "ids_offsets")
	if len(sentences) != 200 || len(embeddings) != len(sentences) || len(ids) != len(sentences) {
		t.Fatalf("%d sentences, %d reference embeddings, %d id rows; want 200 of each", len(sentences), len(embeddings), len(ids))
	}
	return sentences, embeddings, ids
}

// TestMiniLMMatchesSentenceTransformers embeds 200 sentences with the real
// all-MiniLM-L6-v2 checkpoint (BERT, mean pooling, normalization) and
// compares with sentence-transformers' SentenceTransformer on the same
// folder, and our tokenizer with the model's own, id for id.
func TestMiniLMMatchesSentenceTransformers(t *testing.T) {
	dir := assets.RequireModel(t, assets.MiniLM)
	sentences, want, wantIDs := minilmReference(t)
	p, err := NewFeatureExtraction(dir, golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sentences {
		if got := p.Tokenizer.Encode(s); !slices.Equal(got, wantIDs[i]) {
			t.Errorf("sentence %d %q: ids %v, the model's own tokenizer %v", i+1, s, got, wantIDs[i])
		}
	}
	worstCos, worstDiff := 1.0, 0.0
	for start := 0; start < len(sentences); start += 50 {
		got, err := p.Embed(sentences[start:start+50], MeanPooling, true)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			w := want[start+i]
			dot, diff := 0.0, 0.0
			for k := range v {
				dot += float64(v[k]) * float64(w[k])
				diff = max(diff, math.Abs(float64(v[k])-float64(w[k])))
			}
			if dot < 0.99999 || diff > 1e-5 {
				t.Errorf("sentence %d %q: cosine %.7f, max |diff| %.2g against sentence-transformers (want ≥ 0.99999, ≤ 1e-5)",
					start+i+1, sentences[start+i], dot, diff)
			}
			worstCos, worstDiff = min(worstCos, dot), max(worstDiff, diff)
		}
	}
	t.Logf("200 sentences: smallest cosine %.8f, largest |diff| %.2g", worstCos, worstDiff)
}
