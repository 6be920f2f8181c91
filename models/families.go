package models

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/bert"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/mamba"
)

// The built-in families. A family package cannot register itself (it would
// import this package, which imports it to make Load work without extra
// imports), so they are listed here, once.
func init() {
	for _, f := range []Family{
		{ModelTypes: []string{"gpt2"}, New: fromConfig(gpt2.ReadConfig, gpt2.New), Random: randomFromConfig(gpt2.ReadConfig, gpt2.NewRandom)},
		{ModelTypes: []string{"llama", "mistral"}, New: fromConfig(llama.ReadConfig, llama.New), Random: randomFromConfig(llama.ReadConfig, llama.NewRandom)},
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
