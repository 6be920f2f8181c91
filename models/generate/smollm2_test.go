package generate

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/models/weights"
)

// TestSmolLM2MatchesHuggingFace loads the real SmolLM2-135M-Instruct GGUF
// (Q4_1, dequantized at load) and compares with transformers'
// LlamaForCausalLM loaded from the same file (scripts/reference/
// real_checkpoints.py): the logits of the prompt's last two positions, the
// argmax at every position, and 64 greedy tokens.
func TestSmolLM2MatchesHuggingFace(t *testing.T) {
	m, err := llama.LoadGGUF(assets.RequireModel(t, assets.SmolLM2), golden.Backend(t), float32Load)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := weights.ReadSafetensors(filepath.Join("..", "testdata", "smollm2", "reference.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/real_checkpoints.py)", err)
	}
	ids := golden.IDs(t, ref, "input_ids")
	out, err := m.Forward(modeling.Batch{IDs: ids}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logits := tensors.MustCopyFlatData[float32](out.Logits)
	v, n := m.Config.VocabSize, len(ids[0])
	last := tensors.FromFlatDataAndDimensions(slices.Clone(logits[(n-2)*v:]), 2, v)
	diff := golden.Check(t, ref, "logits", last, golden.Tolerance)
	argmax := golden.IDs(t, ref, "argmax") // [1, T] as a row
	for pos := range n {
		row := logits[pos*v : (pos+1)*v]
		if got := int32(slices.Index(row, slices.Max(row))); got != argmax[0][pos] {
			t.Errorf("position %d: argmax %d, Hugging Face %d", pos, got, argmax[0][pos])
		}
	}
	want := golden.IDs(t, ref, "generate.ids")[0]
	got, err := Generate(m, ids[0], Options{MaxNewTokens: len(want)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("greedy %v\nHugging Face generate %v", got, want)
	}
	t.Logf("SmolLM2-135M: last-position logits within %.2g of Hugging Face; %d greedy tokens identical", diff, len(want))
}

// float32Load dequantizes the real checkpoints at load: these tests decode
// many tokens, which kept codes make several times slower, and
// models' TestGGUFKeptMatchesDequantized shows the kept model's logits and
// greedy tokens are the same.
var float32Load = modeling.LoadOptions{DType: "float32"}

// smolLM2 loads the real SmolLM2-135M-Instruct GGUF and the tokenizer inside it.
func smolLM2(t *testing.T) *Generator {
	t.Helper()
	path := assets.RequireModel(t, assets.SmolLM2)
	m, err := llama.LoadGGUF(path, golden.Backend(t), float32Load)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return &Generator{Model: m, Tokenizer: tok}
}

// TestSmolLM2Chat answers through the model's own chat template (read from
// the GGUF file): the answer ends at <|im_end|>, the model's EOS.
func TestSmolLM2Chat(t *testing.T) {
	g := smolLM2(t)
	r, err := g.Chat([]tokenizer.Message{{Role: "user", Content: "What is the capital of France?"}}, tokenizer.ChatOptions{}, Options{MaxNewTokens: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("answer (%s): %q", r.Reason, r.Text)
	if r.Reason != StopToken || !strings.Contains(r.Text, "Paris") {
		t.Errorf("answer %q ended by %q; want one naming Paris, ended by <|im_end|>", r.Text, r.Reason)
	}
}

// TestAttentionLabels: Generator.Attention labels each token of a text
// with its own piece of the text, and every query's weights are causal and
// sum to 1.
func TestAttentionLabels(t *testing.T) {
	g := smolLM2(t)
	m := g.Model.(*llama.Model)
	text := "The capital of France is Paris."
	a, err := g.Attention(text)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Labels, ""); got != text {
		t.Errorf("labels %q join to %q, want the text", a.Labels, got)
	}
	if len(a.Weights) != m.Config.NumHiddenLayers || len(a.Weights[0]) != m.Config.NumAttentionHeads {
		t.Fatalf("%d layers × %d heads, want %d × %d", len(a.Weights), len(a.Weights[0]), m.Config.NumHiddenLayers, m.Config.NumAttentionHeads)
	}
	head, err := a.Head(-1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for q, row := range head {
		sum := 0.0
		for k, w := range row {
			if k > q && w != 0 {
				t.Fatalf("query %d attends to the later key %d (%g)", q, k, w)
			}
			sum += float64(w)
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Errorf("query %d: weights sum to %v", q, sum)
		}
	}
	if _, err := a.Head(len(a.Weights), 0); err == nil {
		t.Error("a layer past the last: no error")
	}
}
