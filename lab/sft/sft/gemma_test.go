package sft

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/gemma"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/training/lora"
	"github.com/trustformers/trustformers-go/xla"
)

// TestLoRAChatSFTGemma3 fine-tunes the real Gemma 3 270M (its GGUF, with
// the SentencePiece tokenizer inside) with LoRA on chat data, as lab/sft
// does SmolLM2: assistant-only labels through a Gemma template with
// {% generation %} blocks (models/testdata/sft/gemma3_training.jinja; the
// GGUF's own template has none), packing, and AdamW on the adapters. Eight
// steps on one packed batch must more than halve its loss: the pipeline
// trains a second family's real checkpoint end to end.
func TestLoRAChatSFTGemma3(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains the real Gemma 3 270M for a few steps")
	}
	path := assets.RequireModel(t, assets.Gemma3)
	backend := xla.MustNew("go")
	m, err := gemma.LoadGGUF(path, backend)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	template, err := os.ReadFile(filepath.Join("..", "..", "..", "models", "testdata", "sft", "gemma3_training.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	questions, _, err := Generate(7, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "train.jsonl")
	if err := WriteJSONL(file, questions); err != nil {
		t.Fatal(err)
	}
	data, err := training.LoadSFTDataset(file, tok, training.SFTOptions{MaxLength: 96, AssistantOnlyLoss: true, Packing: true, Template: string(template)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lora.Apply(m.Params(), lora.Config{Rank: 8, Alpha: 16, Targets: []string{"q_proj", "v_proj"}, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	tr, err := training.NewTrainer(m.Params(), backend, training.CausalLMLoss(m.Decoder), Optimizer(0), 1)
	if err != nil {
		t.Fatal(err)
	}
	batch := data.Batch([]int{0})
	var first, last float64
	for step := range 8 {
		loss, _, err := tr.Step(2e-3, batch...)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = loss
		}
		last = loss
	}
	t.Logf("Gemma 3 270M, LoRA on %d packed rows: loss %.3f -> %.3f in 8 steps", len(data.Rows), first, last)
	if !(last < first/2) {
		t.Errorf("loss %.3f after 8 steps on one batch, from %.3f: the adapters did not learn it", last, first)
	}
}
