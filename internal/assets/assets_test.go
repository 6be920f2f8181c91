package assets

import (
	"strings"
	"testing"
)

func TestAssetsPresent(t *testing.T) {
	for _, rel := range []string{TinyShakespeare, GPT2Encoder, GPT2VocabBPE, BERTTokenizer, Llama2Tokenizer, Stories260K} {
		Require(t, rel)
	}
}

func TestMissingAssetNamesTheFix(t *testing.T) {
	t.Setenv(EnvData, t.TempDir())
	_, err := Path(Stories260K)
	if err == nil || !strings.Contains(err.Error(), "make assets") || !strings.Contains(err.Error(), Stories260K) {
		t.Fatalf("Path of a missing asset: error %v; want one naming the file and `make assets`", err)
	}
}

func TestModelsPresent(t *testing.T) {
	for _, name := range []string{MiniLM, SmolLM2, Gemma3} {
		RequireModel(t, name)
	}
}

func TestMissingModelNamesTheFix(t *testing.T) {
	t.Setenv(EnvModels, t.TempDir())
	for _, name := range []string{MiniLM, SmolLM2, Gemma3} {
		_, err := ModelPath(name)
		if err == nil || !strings.Contains(err.Error(), "make setup") || !strings.Contains(err.Error(), name) ||
			!strings.Contains(err.Error(), modelPackages[name]) {
			t.Errorf("ModelPath of a missing %s: error %v; want one naming it, its PyPI package and `make setup`", name, err)
		}
	}
}
