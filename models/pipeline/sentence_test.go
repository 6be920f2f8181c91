package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

// variantFolder builds the all-MiniLM-L6-v2 folder dir with the
// sentence-transformers files of a variant replaced (or removed, when
// null), as scripts/reference/real_checkpoints.py built it.
func variantFolder(t *testing.T, dir string, files map[string]*string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			if err := os.Symlink(filepath.Join(dir, e.Name()), filepath.Join(out, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	pooling, err := os.ReadFile(filepath.Join(dir, "1_Pooling", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = mapsWith(files, "1_Pooling/config.json", string(pooling))
	for name, content := range files {
		path := filepath.Join(out, filepath.FromSlash(name))
		os.Remove(path)
		if content == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(*content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// mapsWith returns files with name set to content unless files has it.
func mapsWith(files map[string]*string, name, content string) map[string]*string {
	out := map[string]*string{name: &content}
	for k, v := range files {
		out[k] = v
	}
	return out
}

// TestSentenceEmbeddingMatchesSentenceTransformers embeds short texts and
// texts of 257, 300, 400 and 700 tokens (past all-MiniLM-L6-v2's
// max_seq_length of 256, the last past BERT's 512 positions) with the real
// checkpoint as installed and in variants of its sentence-transformers
// files (every pooling mode, alone and concatenated, no Normalize, another
// max_seq_length, a default prompt left out of the pooling, no
// modules.json), and compares with sentence-transformers' SentenceTransformer
// on the same folders: the ids after truncation, and the embeddings.
func TestSentenceEmbeddingMatchesSentenceTransformers(t *testing.T) {
	dir := assets.RequireModel(t, assets.MiniLM)
	ref, meta, err := weights.ReadSafetensorsWithMetadata(filepath.Join("..", "testdata", "minilm", "variants.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/real_checkpoints.py minilm-variants)", err)
	}
	var texts []string
	var variants map[string]map[string]*string
	if err := json.Unmarshal([]byte(meta["texts"]), &texts); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(meta["variants"]), &variants); err != nil {
		t.Fatal(err)
	}
	backend := golden.Backend(t)
	for name, files := range variants {
		t.Run(name, func(t *testing.T) {
			p, err := NewSentenceEmbedding(variantFolder(t, dir, files), backend)
			if err != nil {
				t.Fatal(err)
			}
			wantIDs := golden.Rows(t, ref, name+".ids", name+".ids_offsets")
			for i, text := range texts {
				got, _ := p.Tokenizer.EncodeBatch([]string{p.prepare(text)}, tokenizerOptions(p))
				if !slices.Equal(got.IDs[0], wantIDs[i]) {
					t.Errorf("text %d: %d ids, sentence-transformers %d (first difference at %d)", i, len(got.IDs[0]), len(wantIDs[i]), firstDiff(got.IDs[0], wantIDs[i]))
				}
			}
			emb := golden.Float(t, ref, name+".embeddings")
			want, dim := tensors.MustCopyFlatData[float32](emb), emb.Shape().Dimensions[1]
			got, err := p.Encode(texts)
			if err != nil {
				t.Fatal(err)
			}
			worst, worstDiff := 0.0, 0.0
			for i, v := range got {
				w := want[i*dim : (i+1)*dim]
				if len(v) != dim {
					t.Fatalf("text %d: %d dimensions, sentence-transformers %d", i, len(v), dim)
				}
				cos, diff := cosine(v, w), 0.0
				for k := range v {
					diff = max(diff, math.Abs(float64(v[k])-float64(w[k]))/max(1, math.Abs(float64(w[k]))))
				}
				if cos < 0.99999 || diff > 1e-5 {
					t.Errorf("text %d (%d ids): cosine %.7f, max relative |diff| %.2g against sentence-transformers (want ≥ 0.99999, ≤ 1e-5)",
						i, len(wantIDs[i]), cos, diff)
				}
				worst, worstDiff = max(worst, 1-cos), max(worstDiff, diff)
			}
			t.Logf("%d texts, %d dimensions: smallest cosine 1-%.1g, largest relative |diff| %.2g", len(texts), dim, worst, worstDiff)
		})
	}
}

func tokenizerOptions(p *SentenceEmbedding) tokenizer.BatchOptions {
	return tokenizer.BatchOptions{EncodeOptions: tokenizer.EncodeOptions{MaxLength: p.MaxSeqLength}}
}

func firstDiff(a, b []int32) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for k := range a {
		dot += float64(a[k]) * float64(b[k])
		na += float64(a[k]) * float64(a[k])
		nb += float64(b[k]) * float64(b[k])
	}
	return dot / math.Sqrt(na*nb)
}

// TestSentenceEmbeddingRefuses checks that sentence-transformers files this
// package cannot follow are errors naming the file and the field.
func TestSentenceEmbeddingRefuses(t *testing.T) {
	dir := assets.RequireModel(t, assets.MiniLM)
	s := func(v string) *string { return &v }
	mods := func(types ...string) *string {
		var list []string
		for i, typ := range types {
			path := map[string]string{"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize", "Dense": "2_Dense"}[typ]
			list = append(list, fmt.Sprintf(`{"idx": %d, "path": %q, "type": "sentence_transformers.models.%s"}`, i, path, typ))
		}
		return s("[" + strings.Join(list, ", ") + "]")
	}
	backend := golden.Backend(t)
	for _, tc := range []struct {
		name  string
		files map[string]*string
		want  string
	}{
		{"a Dense module", map[string]*string{"modules.json": mods("Transformer", "Pooling", "Dense")}, `modules.json: module 2 is "sentence_transformers.models.Dense"`},
		{"no pooling", map[string]*string{"modules.json": mods("Transformer")}, "modules.json: 1 modules"},
		{"a path out of the folder", map[string]*string{"modules.json": s(`[{"path": "", "type": "Transformer"}, {"path": "../x", "type": "Pooling"}]`)}, `path "../x" leaves the model folder`},
		{"an unknown pooling mode", map[string]*string{"1_Pooling/config.json": s(`{"pooling_mode": "median"}`)}, `config.json: field pooling_mode: unknown mode "median"`},
		{"a pooling width", map[string]*string{"1_Pooling/config.json": s(`{"word_embedding_dimension": 768}`)}, "field embedding_dimension: 768, but the model's hidden_size is 384"},
		{"a legacy key not a bool", map[string]*string{"1_Pooling/config.json": s(`{"pooling_mode_cls_token": "yes"}`)}, "field pooling_mode_cls_token: want true or false"},
		{"max_seq_length past the positions", map[string]*string{"sentence_bert_config.json": s(`{"max_seq_length": 4096}`)}, "sentence_bert_config.json: field max_seq_length: 4096 is outside 1 … 512"},
		{"an unknown default prompt", map[string]*string{"config_sentence_transformers.json": s(`{"prompts": {"query": "q: "}, "default_prompt_name": "doc"}`)}, `config_sentence_transformers.json: field default_prompt_name: "doc"`},
		{"modules.json not JSON", map[string]*string{"modules.json": s(`[{`)}, "modules.json: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSentenceEmbedding(variantFolder(t, dir, tc.files), backend)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
