package training

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/files"
)

// CharVocab is a character-level vocabulary built as nanoGPT's
// shakespeare_char prepare.py builds it: the sorted set of the text's
// characters.
type CharVocab struct {
	Chars []rune
	index map[rune]int32
}

// NewCharVocab returns the vocabulary of text.
func NewCharVocab(text string) *CharVocab {
	seen := map[rune]bool{}
	for _, r := range text {
		seen[r] = true
	}
	v := &CharVocab{index: map[rune]int32{}}
	for r := range seen {
		v.Chars = append(v.Chars, r)
	}
	sort.Slice(v.Chars, func(i, j int) bool { return v.Chars[i] < v.Chars[j] })
	for i, r := range v.Chars {
		v.index[r] = int32(i)
	}
	return v
}

// Size returns the number of characters.
func (v *CharVocab) Size() int { return len(v.Chars) }

// Encode maps text to ids; a character outside the vocabulary is an error.
func (v *CharVocab) Encode(text string) ([]int32, error) {
	ids := make([]int32, 0, len(text))
	for i, r := range text {
		id, ok := v.index[r]
		if !ok {
			return nil, fmt.Errorf("character %q at byte %d is not in the vocabulary", r, i)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Decode maps ids back to text.
func (v *CharVocab) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if int(id) >= 0 && int(id) < len(v.Chars) {
			b.WriteRune(v.Chars[id])
		}
	}
	return b.String()
}

// Tokens is a stream of token ids: in memory (Int32Tokens) or a
// memory-mapped token file (TokenFile).
type Tokens interface {
	// Len returns the number of tokens.
	Len() int
	// Window returns the n tokens from start.
	Window(start, n int) []int32
}

// Int32Tokens is a token stream held in memory.
type Int32Tokens []int32

// Len returns the number of tokens.
func (t Int32Tokens) Len() int { return len(t) }

// Window returns the n tokens from start.
func (t Int32Tokens) Window(start, n int) []int32 { return t[start : start+n] }

// Dataset is a token stream split into training and validation parts, from
// which batches of random contiguous windows are drawn.
type Dataset struct {
	Train, Val Tokens
}

// SplitTokens splits ids into the first 90% for training and the last 10%
// for validation, as nanoGPT's prepare.py does.
func SplitTokens(ids []int32) *Dataset {
	n := len(ids) * 9 / 10
	return &Dataset{Train: Int32Tokens(ids[:n]), Val: Int32Tokens(ids[n:])}
}

// LoadCharDataset reads a text file and returns its vocabulary and dataset.
func LoadCharDataset(path string) (*CharVocab, *Dataset, error) {
	data, err := readText(path)
	if err != nil {
		return nil, nil, err
	}
	text := string(data)
	if len(text) == 0 {
		return nil, nil, fmt.Errorf("%s: empty file: no characters to train on", path)
	}
	v := NewCharVocab(text)
	ids, err := v.Encode(text)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, SplitTokens(ids), nil
}

// readText reads a corpus whole: a regular file only (files.Open), so that
// -data /dev/zero or a FIFO is an error, not an endless read; its size is
// the caller's choice.
func readText(path string) ([]byte, error) {
	f, err := files.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// Batch draws batch windows of block tokens from split ("train" or "val"),
// at offsets from rng (nanoGPT's get_batch): inputs x and next-token
// targets y, both [batch, block] int32 tensors.
func (d *Dataset) Batch(rng *rand.Rand, split string, batch, block int) (x, y *tensors.Tensor, err error) {
	if err := d.CheckWindows(split, block); err != nil {
		return nil, nil, err
	}
	data := d.split(split)
	xs := make([]int32, 0, batch*block)
	ys := make([]int32, 0, batch*block)
	for range batch {
		i := rng.IntN(data.Len() - block)
		w := data.Window(i, block+1)
		xs = append(xs, w[:block]...)
		ys = append(ys, w[1:]...)
	}
	return tensors.FromFlatDataAndDimensions(xs, batch, block), tensors.FromFlatDataAndDimensions(ys, batch, block), nil
}

// CheckWindows returns an error when split is too short for windows of
// block tokens (and their next-token targets): what Batch would say, to
// be asked before a run starts.
func (d *Dataset) CheckWindows(split string, block int) error {
	data := d.split(split)
	if data == nil || data.Len() <= block+1 {
		n := 0
		if data != nil {
			n = data.Len()
		}
		return fmt.Errorf("%s split has %d tokens, too few for windows of %d", split, n, block)
	}
	return nil
}

func (d *Dataset) split(name string) Tokens {
	if name == "val" {
		return d.Val
	}
	return d.Train
}

// Sampler returns a function that draws a batch of split ([x, y], see
// Batch) from the rng it is given: a Loop's Batch, or the draw of a
// SampledEval.
func (d *Dataset) Sampler(split string, batch, block int) func(rng *rand.Rand) ([]*tensors.Tensor, error) {
	return func(rng *rand.Rand) ([]*tensors.Tensor, error) {
		x, y, err := d.Batch(rng, split, batch, block)
		if err != nil {
			return nil, err
		}
		return []*tensors.Tensor{x, y}, nil
	}
}
