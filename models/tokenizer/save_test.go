package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/trustformers/trustformers-go/internal/assets"
)

// TestSaveRoundTrip saves the tokenizer LoadGGUF builds from the real
// SmolLM2 file as tokenizer.json + tokenizer_config.json and loads the
// folder back: the same ids for plain text, special tokens and a rendered
// chat, the same special ids, and the chat template asked for.
// (scripts/reference/sft_trl.py loads such a folder in transformers.)
func TestSaveRoundTrip(t *testing.T) {
	tok, err := Load(assets.RequireModel(t, assets.SmolLM2))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tok.Save(dir, ""); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	chat, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "Reverse \"cat\"."}}, ChatOptions{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"", "Hello, world!  tabs\tand ünïcödé 123456", "<|im_start|>user\nhi<|im_end|>", chat} {
		if got, want := back.Encode(text), tok.Encode(text); !slices.Equal(got, want) {
			t.Errorf("%q: saved tokenizer gives %v, the GGUF's %v", text, got, want)
		}
	}
	if back.Special != tok.Special || back.VocabSize() != tok.VocabSize() {
		t.Errorf("special tokens %+v, vocab %d; want %+v, %d", back.Special, back.VocabSize(), tok.Special, tok.VocabSize())
	}
	if back.ChatTemplate() != tok.ChatTemplate() {
		t.Errorf("chat template not kept")
	}
	other := t.TempDir()
	if err := tok.Save(other, "{{ messages[0]['content'] }}"); err != nil {
		t.Fatal(err)
	}
	if back, err := Load(other); err != nil || back.ChatTemplate() != "{{ messages[0]['content'] }}" {
		t.Errorf("template given to Save not written (err %v)", err)
	}
	sp, err := Load(assets.Require(t, "llama2/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Save(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "tokenizer.model") {
		t.Errorf("saving a SentencePiece model: error %v, want one naming the file", err)
	}
}
