// Package interop writes the files that scripts/reference/interop.py hands
// to other implementations — model folders to Hugging Face Transformers'
// from_pretrained, LoRA adapters to PEFT, GGUF files to the gguf package and
// to llama.cpp — and its tests assert what those made of them
// (models/testdata/interop). The same Write runs in the script and in the
// tests, which check that the files are still byte for byte the ones the
// other implementations read.
package interop

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/tokenizer"
	"github.com/trustformers/trustformers-go/training/lora"
)

// Families are the golden models saved as folders for from_pretrained.
var Families = []string{"gpt2", "bert", "llama", "llama3", "mistral"}

// Adapters are the LoRA adapters written for PEFT: the family's golden
// model, and the modules adapted (GPT-2's Conv1D layers and LLaMA's
// linear ones).
var Adapters = map[string][]string{"gpt2": {"c_attn", "c_proj"}, "llama": {"q_proj", "v_proj"}}

// GGUFModels are the models written as GGUF with their tokenizers, for the
// gguf package and llama.cpp: the golden GPT-2 with its own byte-level BPE,
// and the random LLaMA of models/testdata/interop/llama-sp with a
// SentencePiece BPE vocabulary.
var GGUFModels = map[string]string{"gpt2": "golden/gpt2/pipeline", "llama-sp": "interop/llama-sp"}

// GGUFTypes are the tensor types each GGUF model is written in.
var GGUFTypes = []string{"f32", "q8_0"}

// LoRA is the adapters' configuration.
var LoRA = lora.Config{Rank: 4, Alpha: 8}

// TestData returns models/testdata in this repository.
func TestData() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "models", "testdata")
}

// Write writes into out: saved/<family>/ (each golden model loaded and
// saved), lora/<family>/ (adapters with seeded random A and B, saved as
// PEFT does) and gguf/<model>-<type>.gguf (with the tokenizer's metadata).
func Write(out string, backend compute.Backend) error {
	data := TestData()
	for _, f := range Families {
		m, err := models.Load(filepath.Join(data, "golden", f, "model"), backend)
		if err != nil {
			return err
		}
		if err := m.Save(filepath.Join(out, "saved", f)); err != nil {
			return err
		}
	}
	for f, targets := range Adapters {
		if err := writeAdapter(filepath.Join(data, "golden", f, "model"), filepath.Join(out, "lora", f), targets, backend); err != nil {
			return fmt.Errorf("%s adapter: %w", f, err)
		}
	}
	for name, rel := range GGUFModels {
		dir := filepath.Join(data, rel)
		m, err := models.Load(dir, backend)
		if err != nil {
			return err
		}
		tok, err := tokenizer.Load(dir)
		if err != nil {
			return err
		}
		meta, err := tok.GGUFMetadata()
		if err != nil {
			return err
		}
		saver, ok := m.(models.GGUFSaver)
		if !ok {
			return fmt.Errorf("%s: %T has no SaveGGUF", dir, m)
		}
		for _, typ := range GGUFTypes {
			path := filepath.Join(out, "gguf", name+"-"+typ+".gguf")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := saver.SaveGGUF(path, typ, meta...); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAdapter applies LoRA to the model in dir, fills A and B with seeded
// random values (PEFT starts B at zero, which would hide a wrong B or scale)
// and saves the adapters to out.
func writeAdapter(dir, out string, targets []string, backend compute.Backend) error {
	m, err := models.Load(dir, backend)
	if err != nil {
		return err
	}
	params := m.Params()
	cfg := LoRA
	cfg.Targets = targets
	a, err := lora.Apply(params, cfg)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(20261202, 1))
	for _, name := range a.Names() {
		dims := params.Dims(name)
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.3)
		}
		if strings.HasSuffix(name, ".lora_A.weight") {
			for i := range v {
				v[i] *= 0.5
			}
		}
		if err := params.Set(name, tensors.FromFlatDataAndDimensions(v, dims...)); err != nil {
			return err
		}
	}
	return a.Save(out)
}
