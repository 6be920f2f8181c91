package tokenizer_test

import (
	"fmt"
	"log"
	"path/filepath"

	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// gpt2Folder is the folder holding GPT-2's encoder.json and vocab.bpe; in
// your own code, a Hugging Face model folder such as
// ~/.cache/huggingface/hub/models--gpt2/snapshots/<rev>.
func gpt2Folder() string {
	path, err := assets.Path(assets.GPT2Encoder)
	if err != nil {
		log.Fatal(err)
	}
	return filepath.Dir(path)
}

// Load a tokenizer from a folder, encode text and decode it back.
func Example() {
	tok, err := tokenizer.Load(gpt2Folder())
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Hello, world!")
	fmt.Println(ids)
	var tokens []string
	for _, id := range ids {
		token, _ := tok.IDToToken(id)
		tokens = append(tokens, token)
	}
	fmt.Printf("%q\n", tokens)
	fmt.Println(tok.Decode(ids, false))
	// Output:
	// [15496 11 995 0]
	// ["Hello" "," "Ġworld" "!"]
	// Hello, world!
}

// Batches for generation are padded on the left, so that every row ends
// with a real token. GPT-2 has no PAD token; EOS stands in for it.
func ExampleTokenizer_EncodeBatch() {
	tok, err := tokenizer.Load(gpt2Folder())
	if err != nil {
		log.Fatal(err)
	}
	tok.Special.PAD = tok.Special.EOS
	batch, err := tok.EncodeBatch([]string{"Hello", "To be, or not"}, tokenizer.BatchOptions{
		Padding: tokenizer.PadLongest,
		PadLeft: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := range batch.IDs {
		fmt.Println(batch.IDs[i], batch.AttentionMask[i])
	}
	// Output:
	// [50256 50256 50256 50256 15496] [0 0 0 0 1]
	// [2514 307 11 393 407] [1 1 1 1 1]
}

// A StreamDecoder turns generated ids into text as they come, holding back
// the bytes of a character split across tokens.
func ExampleStreamDecoder() {
	tok, err := tokenizer.Load(gpt2Folder())
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Good 👍!")
	stream := tok.NewStreamDecoder(true)
	for _, id := range ids {
		fmt.Printf("%d → %q\n", id, stream.Next(id))
	}
	// Output:
	// 10248 → "Good"
	// 50169 → ""
	// 235 → " 👍"
	// 0 → "!"
}
