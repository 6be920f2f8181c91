package models_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/gemma"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

// gemma3Tolerance bounds our float32 logits against transformers' float64
// ones on the real Gemma 3 270M (logits of about ±30 after 18 layers).
const gemma3Tolerance = 1e-3

// TestGemma3MatchesHuggingFace loads the real Gemma 3 270M GGUF (Q4_K_M,
// dequantized at load: LoadOptions float32) through models.LoadCausalLM and compares with
// transformers' Gemma3ForCausalLM loaded from the same file (scripts/
// reference/gemma3_270m.py): the prompt's ids from the file's own
// tokenizer, the argmax at every position, the logits of the last two
// positions (at their 64 highest ids and every 16th id) within 1e-3, and 64
// greedy tokens with the KV cache.
func TestGemma3MatchesHuggingFace(t *testing.T) {
	path := assets.RequireModel(t, assets.Gemma3)
	ref, meta, err := weights.ReadSafetensorsWithMetadata(filepath.Join("testdata", "gemma3-270m", "reference.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/gemma3_270m.py)", err)
	}
	start := time.Now()
	// Dequantized at load: 64 greedy tokens from kept codes take several
	// times longer, and TestGGUFKeptMatchesDequantized shows they agree.
	lm, err := models.LoadCausalLM(path, golden.Backend(t), modeling.LoadOptions{DType: "float32"})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := lm.(*gemma.Model)
	if !ok || m.ModelType() != gemma.Gemma3 {
		t.Fatalf("LoadCausalLM gave a %T of type %q, want a gemma3_text *gemma.Model", lm, lm.ModelType())
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Now()
	ids := golden.IDs(t, ref, "input_ids")
	if got := tok.Encode(meta["prompt"]); !slices.Equal(got, ids[0]) {
		t.Fatalf("prompt %q: ids %v, transformers %v", meta["prompt"], got, ids[0])
	}
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logits := tensors.MustCopyFlatData[float32](out.Logits)
	forward := time.Now()
	v, n := m.Config.VocabSize, len(ids[0])
	argmax := golden.IDs(t, ref, "argmax")
	for pos := range n {
		row := logits[pos*v : (pos+1)*v]
		if got := int32(slices.Index(row, slices.Max(row))); got != argmax[0][pos] {
			t.Errorf("position %d: argmax %d, transformers %d", pos, got, argmax[0][pos])
		}
	}
	keptT, ok := ref.Get("logits.ids") // one row
	if !ok {
		t.Fatal("reference has no logits.ids")
	}
	kept := tensors.MustCopyFlatData[int64](keptT)
	last := make([]float32, 0, 2*len(kept))
	for _, pos := range []int{n - 2, n - 1} {
		for _, id := range kept {
			last = append(last, logits[pos*v+int(id)])
		}
	}
	diff := golden.Check(t, ref, "logits", tensors.FromFlatDataAndDimensions(last, 2, len(kept)), gemma3Tolerance)
	want := golden.IDs(t, ref, "generate.ids")[0]
	got, err := generate.Generate(m, ids[0], generate.Options{MaxNewTokens: len(want)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("greedy %v\ntransformers generate %v", got, want)
	}
	if text := tok.Decode(got, false); text != meta["text"] {
		t.Errorf("greedy text %q, transformers %q", text, meta["text"])
	}
	t.Logf("Gemma 3 270M: loaded in %v, %d-token forward in %v, %d greedy tokens in %v; last logits within %.2g of transformers",
		loaded.Sub(start).Round(time.Millisecond), n, forward.Sub(loaded).Round(time.Millisecond), len(want),
		time.Since(forward).Round(time.Millisecond), diff)
}
