package training

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// sftGolden is models/testdata/sft/sft.golden.json
// (scripts/reference/sft_data.py): TRL's SFTTrainer preparation.
type sftGolden struct {
	PadTokenID int32 `json:"pad_token_id"`
	Cases      map[string]struct {
		MaxLength int `json:"max_length"`
		Examples  []struct {
			InputIDs []int32 `json:"input_ids"`
			Labels   []int32 `json:"labels"`
		} `json:"examples"`
		Truncated []struct {
			InputIDs []int32 `json:"input_ids"`
			Labels   []int32 `json:"labels"`
		} `json:"truncated"`
		Padded struct {
			InputIDs      [][]int32 `json:"input_ids"`
			Labels        [][]int32 `json:"labels"`
			AttentionMask [][]int32 `json:"attention_mask"`
		} `json:"padded"`
		Packed []struct {
			InputIDs       []int32 `json:"input_ids"`
			Labels         []int32 `json:"labels"`
			SeqLengths     []int   `json:"seq_lengths"`
			PositionIDs    []int32 `json:"position_ids"`
			CollatedLabels []int32 `json:"collated_labels"`
			CuSeqLens      []int   `json:"cu_seq_lens"`
		} `json:"packed"`
	} `json:"cases"`
	Errors map[string]*string `json:"errors"`
}

func sftDir() string { return filepath.Join(golden.Dir(""), "..", "sft") }

func loadSFTGolden(t *testing.T) (*sftGolden, *tokenizer.Tokenizer, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sftDir(), "sft.golden.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with scripts/reference/sft_data.py)", err)
	}
	var g sftGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(assets.RequireModel(t, assets.SmolLM2))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join(sftDir(), "smollm2_training.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	return &g, tok, string(tmpl)
}

// shift is Hugging Face's causal-LM shift of labels: position t predicts
// labels[t+1], the last position nothing.
func shift(labels []int32) []int32 {
	return append(slices.Clone(labels[1:]), IgnoreLabel)
}

// TestSFTMatchesTRL prepares the examples of models/testdata/sft as TRL's
// SFTTrainer does, on SmolLM2's tokenizer, and compares id for id: the
// tokenized examples and their labels (assistant masks from the template's
// {% generation %} blocks, completion masks), the rows after truncation and
// their padded batch, and the packed rows (best fit decreasing) with their
// position ids, labels and boundaries as TRL's padding-free collator
// gives them.
func TestSFTMatchesTRL(t *testing.T) {
	g, tok, training := loadSFTGolden(t)
	cases := []struct {
		name, file string
		opts       SFTOptions
	}{
		{"chat_full", "chat.jsonl", SFTOptions{}},
		{"chat_assistant_only", "chat.jsonl", SFTOptions{AssistantOnlyLoss: true, Template: training}},
		{"prompt_completion", "prompt_completion.jsonl", SFTOptions{}},
		{"prompt_completion_full", "prompt_completion.jsonl", SFTOptions{PromptLoss: true}},
		{"conversational_prompt_completion", "conversational_prompt_completion.jsonl", SFTOptions{Template: training}},
		{"conversational_prompt_completion_assistant_only", "conversational_prompt_completion.jsonl", SFTOptions{AssistantOnlyLoss: true, Template: training}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, ok := g.Cases[c.name]
			if !ok {
				t.Fatalf("no case %q in the golden file", c.name)
			}
			examples, err := ReadSFTFile(filepath.Join(sftDir(), c.file))
			if err != nil {
				t.Fatal(err)
			}
			seqs, err := TokenizeSFT(tok, examples, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(seqs) != len(want.Examples) {
				t.Fatalf("%d examples, TRL %d", len(seqs), len(want.Examples))
			}
			for i, w := range want.Examples {
				equalIDs(t, "example", i, "input ids", seqs[i].IDs, w.InputIDs)
				equalIDs(t, "example", i, "labels", seqs[i].Labels, w.Labels)
			}
			checkTruncated(t, seqs, want.MaxLength, want.Truncated, want.Padded.InputIDs, want.Padded.Labels, want.Padded.AttentionMask, g.PadTokenID)
			rows := PackSFT(seqs, want.MaxLength)
			if len(rows) != len(want.Packed) {
				t.Fatalf("%d packed rows, TRL %d", len(rows), len(want.Packed))
			}
			for i, w := range want.Packed {
				r := rows[i]
				equalIDs(t, "packed row", i, "input ids", r.IDs, w.InputIDs)
				equalIDs(t, "packed row", i, "labels", r.Labels, w.Labels)
				if !slices.Equal(r.SeqLengths, w.SeqLengths) {
					t.Errorf("packed row %d: seq lengths %v, TRL %v", i, r.SeqLengths, w.SeqLengths)
				}
				equalIDs(t, "packed row", i, "position ids", r.PositionIDs(), w.PositionIDs)
				bounds := []int{0}
				for _, n := range r.SeqLengths {
					bounds = append(bounds, bounds[len(bounds)-1]+n)
				}
				if !slices.Equal(bounds, w.CuSeqLens) {
					t.Errorf("packed row %d: boundaries %v, TRL's cu_seq_lens %v", i, bounds, w.CuSeqLens)
				}
				equalIDs(t, "packed row", i, "targets", r.Targets(len(r.IDs)), shift(w.CollatedLabels))
			}
		})
	}
}

// checkTruncated compares TruncateSFT with TRL's truncated dataset, and
// the batch of all its rows with TRL's padded batch: ids where the mask is
// 1, targets shifted from its labels.
func checkTruncated(t *testing.T, seqs []SFTSequence, maxLength int, want []struct {
	InputIDs []int32 `json:"input_ids"`
	Labels   []int32 `json:"labels"`
}, paddedIDs, paddedLabels, mask [][]int32, pad int32) {
	t.Helper()
	rows := TruncateSFT(seqs, maxLength)
	if len(rows) != len(want) {
		t.Fatalf("%d rows after truncation, TRL %d", len(rows), len(want))
	}
	for i, w := range want {
		equalIDs(t, "truncated row", i, "input ids", rows[i].IDs, w.InputIDs)
		equalIDs(t, "truncated row", i, "labels", rows[i].Labels, w.Labels)
	}
	d := &SFTDataset{Rows: rows, Length: maxLength, PadID: pad}
	batch := d.Batch(seq(0, len(rows)))
	ids, targets := tensors.MustCopyFlatData[int32](batch[0]), tensors.MustCopyFlatData[int32](batch[1])
	for i := range rows {
		n := len(paddedIDs[i])
		for j := range n {
			if mask[i][j] == 1 && ids[i*maxLength+j] != paddedIDs[i][j] {
				t.Errorf("padded row %d, position %d: id %d, TRL %d", i, j, ids[i*maxLength+j], paddedIDs[i][j])
			}
		}
		equalIDs(t, "padded row", i, "targets", targets[i*maxLength:i*maxLength+n], shift(paddedLabels[i]))
	}
}

func equalIDs(t *testing.T, what string, i int, field string, got, want []int32) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s %d: %s differ from TRL's\n got %v\nwant %v", what, i, field, got, want)
	}
}

// TestSFTAssistantOnlyNeedsGenerationBlocks: SmolLM2's own template has no
// {% generation %} blocks, and TRL refuses assistant_only_loss with it.
func TestSFTAssistantOnlyNeedsGenerationBlocks(t *testing.T) {
	g, tok, _ := loadSFTGolden(t)
	if g.Errors["assistant_only_own_template"] == nil {
		t.Fatal("TRL accepted assistant_only_loss with SmolLM2's own template")
	}
	examples, err := ReadSFTFile(filepath.Join(sftDir(), "chat.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = TokenizeSFT(tok, examples, SFTOptions{AssistantOnlyLoss: true})
	if err == nil || !strings.Contains(err.Error(), "{% generation %}") || !strings.Contains(err.Error(), "SFTOptions.Template") {
		t.Fatalf("got %v, want an error naming {%% generation %%} blocks and SFTOptions.Template", err)
	}
}

// TestReadSFTFileErrors: a line that is none of TRL's formats is an error
// naming the file, the line and the field.
func TestReadSFTFileErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"not json", "{\"messages\": [\n", ":1: "},
		{"no known field", `{"text": "hello"}`, "neither \"messages\" nor \"prompt\""},
		{"messages not a list", `{"messages": "hi"}`, `field "messages"`},
		{"turn without role", `{"messages": [{"content": "hi"}]}`, `field "messages": turn 0 has no role`},
		{"empty conversation", `{"messages": []}`, `field "messages": no turns`},
		{"mixed pair", `{"prompt": [{"role": "user", "content": "a"}], "completion": "b"}`, `field "completion"`},
		{"prompt not text", `{"prompt": 3, "completion": "b"}`, `field "prompt"`},
		{"empty file", "\n\n", "no examples"},
		{"second line", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"}", ":2: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data.jsonl")
			if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadSFTFile(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want an error naming %s and holding %q", err, path, c.want)
			}
		})
	}
}
