package lora_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/training/lora"
	"github.com/trustformers/trustformers-go/xla"
)

// Adapt the attention queries and values of a tiny LLaMA, then save the
// adapters the way PEFT does. Train them with a training.Trainer over
// m.Params(): only the adapters are trainable.
func Example() {
	backend, err := xla.New("go")
	if err != nil {
		panic(err)
	}
	defer backend.Finalize()
	m, err := llama.Load(filepath.Join(golden.Dir("llama"), "model"), backend)
	if err != nil {
		panic(err)
	}
	adapters, err := lora.Apply(m.Params(), lora.Config{Rank: 4, Alpha: 8, Targets: []string{"q_proj", "v_proj"}, Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(adapters.Modules())
	fmt.Println("trainable:", adapters.NumParams(), "scale:", adapters.Config.Scale())

	dir, _ := os.MkdirTemp("", "adapter")
	defer os.RemoveAll(dir)
	if err := adapters.Save(dir); err != nil {
		panic(err)
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		fmt.Println(f.Name())
	}
	// Output:
	// [model.layers.0.self_attn.q_proj model.layers.0.self_attn.v_proj model.layers.1.self_attn.q_proj model.layers.1.self_attn.v_proj]
	// trainable: 896 scale: 2
	// adapter_config.json
	// adapter_model.safetensors
}
