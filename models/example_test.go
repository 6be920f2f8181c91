package models_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/xla"
)

// tinyConfig is the config.json of the family below.
type tinyConfig struct {
	ModelType string `json:"model_type"`
	VocabSize int    `json:"vocab_size"`
	Hidden    int    `json:"hidden_size"`
}

// tiny is a one-layer, one-head, attention-only language model with its
// head tied to the token embedding: a family written outside the module.
// modeling.Decoder gives it Forward, NewCache and Step.
type tiny struct {
	cfg tinyConfig
	*modeling.Decoder
}

func (m *tiny) ModelType() string     { return m.cfg.ModelType }
func (m *tiny) Save(dir string) error { return saveTiny(m, dir) }

// graph is the network: x = embed[ids]; x += attention(x Aᵀ, x, x);
// logits = (x Oᵀ) embedᵀ. Asking s for a weight, with its name, role and
// shape, is also how the family declares it.
func (m *tiny) graph(s modeling.Scope, ids, positions *Node, attend modeling.AttendFunc) (*Node, []*Node) {
	c := m.cfg
	embed := s.Weight("embed.weight", modeling.LMHead, c.VocabSize, c.Hidden) // tied to the head
	x := Gather(embed, ExpandAxes(ids, -1))                                   // [B, T, d]
	b, t := x.Shape().Dim(0), x.Shape().Dim(1)
	heads := func(n *Node) *Node { return Reshape(n, b, 1, t, c.Hidden) }
	q := s.Linear(x, "attn", modeling.ColumnParallel, c.Hidden, false)
	x = Add(x, Reshape(attend(0, heads(q), heads(x), heads(x)), b, t, c.Hidden))
	out := s.Linear(x, "out", modeling.RowParallel, c.Hidden, false)
	return Einsum("btd,vd->btv", out, embed), []*Node{x}
}

func readTiny(dir string) (tinyConfig, error) {
	var c tinyConfig
	err := modeling.ReadConfig(filepath.Join(dir, modeling.ConfigFile), &c, "vocab_size", "hidden_size")
	return c, err
}

func newTiny(dir string, set *weights.Set, backend compute.Backend) (models.Model, error) {
	c, err := readTiny(dir)
	if err != nil {
		return nil, err
	}
	m := &tiny{cfg: c}
	specs, err := modeling.DeclareDecoder(m.graph)
	if err != nil {
		return nil, err
	}
	params, err := modeling.LoadSpecsTo(backend, set, specs, modeling.Checkpoint{Decoding: true})
	if err != nil {
		return nil, err
	}
	m.Decoder = modeling.NewDecoder(params, backend, modeling.DecoderShape{
		Layers: 1, KVHeads: 1, HeadDim: c.Hidden, Vocab: c.VocabSize,
	}, m.graph)
	return m, nil
}

func randomTiny(dir string, seed uint64, backend compute.Backend) (models.Model, error) {
	c, err := readTiny(dir)
	if err != nil {
		return nil, err
	}
	specs, err := modeling.DeclareDecoder((&tiny{cfg: c}).graph)
	if err != nil {
		return nil, err
	}
	return newTiny(dir, modeling.RandomWeights(specs, seed, 0.5), backend)
}

func saveTiny(m *tiny, dir string) error {
	set, err := m.Params().Weights()
	if err != nil {
		return err
	}
	return modeling.SaveModel(dir, set, m.cfg)
}

// Register a family from outside the module, then load and generate with it
// through the same calls as the built-in families.
func ExampleRegister() {
	err := models.Register(models.Family{ModelTypes: []string{"tiny-attention"}, New: newTiny, Random: randomTiny})
	if err != nil {
		panic(err)
	}
	backend := xla.MustNew("go")
	defer backend.Finalize()

	dir, _ := os.MkdirTemp("", "tiny-")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "tiny-attention", "vocab_size": 12, "hidden_size": 8}`), 0o644)
	m, err := models.NewRandom(dir, 7, backend)
	if err != nil {
		panic(err)
	}
	if err := m.Save(dir); err != nil { // config.json and model.safetensors
		panic(err)
	}

	lm, err := models.LoadCausalLM(dir, backend)
	if err != nil {
		panic(err)
	}
	ids, err := generate.Generate(lm, []int32{1, 2, 3}, generate.Options{MaxNewTokens: 6})
	if err != nil {
		panic(err)
	}
	fmt.Println("weights:", lm.Params().Names())
	fmt.Println("supported:", models.Supported())
	fmt.Println("generated:", ids)
	// Output:
	// weights: [attn.weight embed.weight out.weight]
	// supported: [bert gemma2 gemma3_text gpt2 llama mistral tiny-attention]
	// generated: [2 6 3 2 6 3]
}
