package training

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// SFTRow is one training row: one example (truncated) or several packed
// end to end, with their lengths in order.
type SFTRow struct {
	IDs, Labels []int32
	SeqLengths  []int
}

// PositionIDs returns the row's position ids, restarting at 0 where each
// example starts (TRL's collator for packed rows): the decoder reads these
// restarts as the boundaries no token attends across.
func (r SFTRow) PositionIDs() []int32 {
	pos := make([]int32, 0, len(r.IDs))
	for _, n := range r.SeqLengths {
		for i := range n {
			pos = append(pos, int32(i))
		}
	}
	return pos
}

// Targets returns the next-token targets of the row, padded with
// IgnoreLabel to length: Targets[t] is Labels[t+1] within an example, and
// ignored at each example's last token (TRL's collator ignores the label
// of each example's first token, which Hugging Face's shifted loss would
// otherwise ask the previous example to predict).
func (r SFTRow) Targets(length int) []int32 {
	out := make([]int32, length)
	for i := range out {
		out[i] = IgnoreLabel
	}
	at := 0
	for _, n := range r.SeqLengths {
		copy(out[at:at+n-1], r.Labels[at+1:at+n])
		at += n
	}
	return out
}

// TruncateSFT makes one row of each sequence, cut to its first maxLength
// tokens (0: not cut), leaving out those with no label left: TRL's
// preparation without packing.
func TruncateSFT(seqs []SFTSequence, maxLength int) []SFTRow {
	var rows []SFTRow
	for _, s := range seqs {
		n := len(s.IDs)
		if maxLength > 0 {
			n = min(n, maxLength)
		}
		if !slices.ContainsFunc(s.Labels[:n], func(l int32) bool { return l != IgnoreLabel }) {
			continue
		}
		rows = append(rows, SFTRow{IDs: s.IDs[:n], Labels: s.Labels[:n], SeqLengths: []int{n}})
	}
	return rows
}

// PackSFT packs sequences into rows of at most maxLength tokens, best fit
// decreasing exactly as TRL's pack_dataset(strategy="bfd") does: each
// sequence cut to maxLength (empty ones left out), the longest first (ties
// in file order), each into the fullest row it fits (among equally full
// rows, the one that reached that fill first), else a new row; rows in the
// order they were opened.
func PackSFT(seqs []SFTSequence, maxLength int) []SFTRow {
	type item struct{ idx, n int }
	var items []item
	for i, s := range seqs {
		if n := min(len(s.IDs), maxLength); n > 0 {
			items = append(items, item{i, n})
		}
	}
	sort.SliceStable(items, func(a, b int) bool { return items[a].n > items[b].n })
	type bin struct{ ids []int }
	var bins []*bin
	free := newSpaceTree(maxLength)
	free.add(maxLength) // a new row is always there
	bySpace := map[int][]*bin{}
	for _, it := range items {
		space := free.search(it.n)
		var b *bin
		if space < maxLength {
			b = bySpace[space][0]
			bySpace[space] = bySpace[space][1:]
			if len(bySpace[space]) == 0 {
				free.remove(space)
			}
		} else {
			b = &bin{}
			bins = append(bins, b)
		}
		b.ids = append(b.ids, it.idx)
		space -= it.n
		bySpace[space] = append(bySpace[space], b)
		if space > 0 {
			free.add(space)
		}
	}
	rows := make([]SFTRow, len(bins))
	for i, b := range bins {
		for _, idx := range b.ids {
			n := min(len(seqs[idx].IDs), maxLength)
			rows[i].IDs = append(rows[i].IDs, seqs[idx].IDs[:n]...)
			rows[i].Labels = append(rows[i].Labels, seqs[idx].Labels[:n]...)
			rows[i].SeqLengths = append(rows[i].SeqLengths, n)
		}
	}
	return rows
}

// spaceTree is TRL's segment tree over free spaces 1..max: search(n)
// returns the smallest space present that is at least n.
type spaceTree struct {
	size int
	tree []int
}

func newSpaceTree(maxVal int) *spaceTree {
	size := 1
	for size < maxVal {
		size <<= 1
	}
	return &spaceTree{size: size, tree: make([]int, 2*size)}
}

func (t *spaceTree) set(v, to int) {
	i := t.size + v - 1
	t.tree[i] = to
	for i > 1 {
		i >>= 1
		t.tree[i] = max(t.tree[2*i], t.tree[2*i+1])
	}
}

func (t *spaceTree) add(v int)    { t.set(v, v) }
func (t *spaceTree) remove(v int) { t.set(v, 0) }

func (t *spaceTree) search(v int) int {
	i := 1
	for i < t.size {
		if t.tree[2*i] >= v {
			i = 2 * i
		} else {
			i = 2*i + 1
		}
	}
	return t.tree[i]
}

// SFTDataset is chat or instruction data ready to train on: rows (one
// example each, or packed), each batch [ids, targets, positions] of
// [B, Length] int32 tensors for CausalLMLoss, padded with PadID (targets
// ignored, each padding token its own example at position 0, so it
// attends to nothing else and nothing attends to it: no attention mask is
// needed).
type SFTDataset struct {
	Rows   []SFTRow
	Length int
	PadID  int32
}

// NewSFTDataset truncates or packs seqs as opts asks.
func NewSFTDataset(seqs []SFTSequence, opts SFTOptions, padID int32) (*SFTDataset, error) {
	if opts.MaxLength < 0 {
		return nil, fmt.Errorf("training: SFT max length %d < 0", opts.MaxLength)
	}
	if opts.Packing && opts.MaxLength == 0 {
		return nil, fmt.Errorf("training: packing needs a max length (the length of a packed row)")
	}
	d := &SFTDataset{Length: opts.MaxLength, PadID: padID}
	if opts.Packing {
		d.Rows = PackSFT(seqs, opts.MaxLength)
	} else {
		d.Rows = TruncateSFT(seqs, opts.MaxLength)
	}
	if len(d.Rows) == 0 {
		return nil, fmt.Errorf("training: no example has a label left to train on (after truncation to %d tokens)", opts.MaxLength)
	}
	if d.Length == 0 {
		for _, r := range d.Rows {
			d.Length = max(d.Length, len(r.IDs))
		}
	}
	return d, nil
}

// LoadSFTDataset reads a JSONL file of examples (ReadSFTFile), tokenizes
// them (TokenizeSFT) and truncates or packs them; padding is the
// tokenizer's PAD, else its EOS (as TRL pads).
func LoadSFTDataset(path string, tok *tokenizer.Tokenizer, opts SFTOptions) (*SFTDataset, error) {
	examples, err := ReadSFTFile(path)
	if err != nil {
		return nil, err
	}
	seqs, err := TokenizeSFT(tok, examples, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pad := tok.Special.PAD
	if !tok.Special.Has(pad) {
		pad = tok.Special.EOS
	}
	d, err := NewSFTDataset(seqs, opts, max(pad, 0))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Batch returns the rows at indices as [ids, targets, positions].
func (d *SFTDataset) Batch(indices []int) []*tensors.Tensor {
	n := len(indices)
	ids, targets, pos := make([]int32, 0, n*d.Length), make([]int32, 0, n*d.Length), make([]int32, 0, n*d.Length)
	for _, i := range indices {
		r := d.Rows[i]
		ids = append(ids, r.IDs...)
		for range d.Length - len(r.IDs) {
			ids = append(ids, d.PadID)
		}
		targets = append(targets, r.Targets(d.Length)...)
		p := r.PositionIDs()
		pos = append(append(pos, p...), make([]int32, d.Length-len(p))...)
	}
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ids, n, d.Length),
		tensors.FromFlatDataAndDimensions(targets, n, d.Length),
		tensors.FromFlatDataAndDimensions(pos, n, d.Length),
	}
}

// Epochs returns the micro-batches of a run over d for Loop.BatchAt:
// batch rows at a time through the rows in the order of EpochOrder.
func (d *SFTDataset) Epochs(batch int, seed uint64, shuffle bool) func(i int) ([]*tensors.Tensor, error) {
	order := &EpochOrder{N: len(d.Rows), Batch: batch, Seed: seed, Shuffle: shuffle}
	return func(i int) ([]*tensors.Tensor, error) {
		rows, err := order.Rows(i)
		if err != nil {
			return nil, err
		}
		return d.Batch(rows), nil
	}
}

// Eval returns an evaluation over every row of d once, in order, batch
// rows at a time (the last batch may be shorter).
func (d *SFTDataset) Eval(split string, batch int) Eval {
	return Eval{Split: split, Batches: func(*rand.Rand) ([][]*tensors.Tensor, error) {
		if batch <= 0 {
			return nil, fmt.Errorf("training: evaluation %q: batch size %d <= 0", split, batch)
		}
		var out [][]*tensors.Tensor
		for start := 0; start < len(d.Rows); start += batch {
			out = append(out, d.Batch(seq(start, min(start+batch, len(d.Rows)))))
		}
		return out, nil
	}}
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// EpochOrder is the order in which a run reads N rows Batch at a time:
// epoch after epoch, each a permutation of the rows drawn from PCG stream
// (Seed, epoch) when Shuffle is set (file order otherwise). Batches run on
// across epochs, so every batch is full and every row is read as often as
// the others; micro-batch i depends on i alone, so a resumed run reads
// what the uninterrupted one would have.
type EpochOrder struct {
	N, Batch int
	Seed     uint64
	Shuffle  bool

	epoch int   // the epoch perm holds, -1: none
	perm  []int // rows of that epoch in order
}

// Rows returns the row indices of micro-batch i.
func (o *EpochOrder) Rows(i int) ([]int, error) {
	if o.N <= 0 || o.Batch <= 0 || i < 0 {
		return nil, fmt.Errorf("training: batch %d of %d rows %d at a time", i, o.N, o.Batch)
	}
	out := make([]int, o.Batch)
	for j := range out {
		at := i*o.Batch + j
		out[j] = o.epochRows(at / o.N)[at%o.N]
	}
	return out, nil
}

// epochRows returns the row order of epoch e.
func (o *EpochOrder) epochRows(e int) []int {
	if o.perm != nil && o.epoch == e {
		return o.perm
	}
	o.epoch = e
	if !o.Shuffle {
		o.perm = seq(0, o.N)
	} else {
		o.perm = rand.New(rand.NewPCG(o.Seed, uint64(e))).Perm(o.N)
	}
	return o.perm
}
