package llama_test

import (
	"fmt"
	"path/filepath"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/xla"
)

// Load llama2.c's stories260K checkpoint and decode greedily from BOS, as
// llama2.c's run does (it stops when BOS comes again).
func ExampleLoadLlama2C() {
	backend := xla.MustNew("go")
	defer backend.Finalize()
	m, err := llama.LoadLlama2C(filepath.Join(assets.Dir(), assets.Stories260K), backend)
	if err != nil {
		panic(err)
	}
	c := m.Config
	fmt.Printf("%d layers, %d heads, %d key/value heads, vocabulary %d\n",
		c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.VocabSize)
	ids, err := generate.Generate(m, []int32{1}, generate.Options{MaxNewTokens: 8, StopIDs: []int32{1}})
	if err != nil {
		panic(err)
	}
	fmt.Println(ids)
	// Output:
	// 5 layers, 8 heads, 4 key/value heads, vocabulary 512
	// [461 461 401 401 401 461 378 455]
}
