package models

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/gemma"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/mamba"
	"github.com/trustformers/trustformers-go/models/mixtral"
	"github.com/trustformers/trustformers-go/models/phi3"
	"github.com/trustformers/trustformers-go/models/qwen"
)

// The built-in families. A family package cannot register itself (it would
// import this package, which imports it to make Load work without extra
// imports), so they are listed here, once.
func init() {
	for _, f := range []Family{
		{ModelTypes: []string{"gpt2"}, New: fromConfig(gpt2.ReadConfig, gpt2.New), Random: randomFromConfig(gpt2.ReadConfig, gpt2.NewRandom)},
		{ModelTypes: []string{"llama", "mistral"}, New: fromConfig(llama.ReadConfig, llama.New), Random: randomFromConfig(llama.ReadConfig, llama.NewRandom),
			GGUF: []string{"llama"}, LoadGGUF: fromGGUF(llama.LoadGGUF)},
		{ModelTypes: []string{"qwen2", "qwen3"}, New: fromConfig(qwen.ReadConfig, qwen.New), Random: randomFromConfig(qwen.ReadConfig, qwen.NewRandom),
			GGUF: qwen.GGUFArchitectures, LoadGGUF: fromGGUF(qwen.LoadGGUF)},
		{ModelTypes: []string{gemma.Gemma2, gemma.Gemma3}, New: fromConfig(gemma.ReadConfig, gemma.New), Random: randomFromConfig(gemma.ReadConfig, gemma.NewRandom),
			GGUF: []string{gemma.GGUFArchitecture}, LoadGGUF: fromGGUF(gemma.LoadGGUF)},
		{ModelTypes: []string{"phi3"}, New: fromConfig(phi3.ReadConfig, phi3.New), Random: randomFromConfig(phi3.ReadConfig, phi3.NewRandom),
			GGUF: []string{phi3.GGUFArchitecture}, LoadGGUF: fromGGUF(phi3.LoadGGUF)},
		{ModelTypes: []string{"mixtral"}, New: fromConfig(mixtral.ReadConfig, mixtral.New), Random: randomFromConfig(mixtral.ReadConfig, mixtral.NewRandom)},
		{ModelTypes: []string{"mamba"}, New: fromConfig(mamba.ReadConfig, mamba.New), Random: randomFromConfig(mamba.ReadConfig, mamba.NewRandom)},
		{ModelTypes: []string{"bert"}, New: fromConfig(bert.ReadConfig, bert.New), Random: randomFromConfig(bert.ReadConfig,
			func(c *bert.Config, seed uint64, backend compute.Backend) (*bert.Model, error) {
				return bert.NewRandom(c, c.ArchitectureHead(), seed, backend)
			})},
	} {
		if err := Register(f); err != nil {
			panic(fmt.Sprintf("built-in family: %v", err))
		}
	}
}
