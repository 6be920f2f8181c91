package training

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// TestPackedLossEqualsExamplesAlone trains the golden LLaMA on packed rows:
// CausalLMLoss on a batch of packed rows (positions restarting per
// example, padding, labels ignored on prompts) is the mean over every
// counted token of the examples' losses each run alone — no example sees
// another, and ignored labels count for nothing.
func TestPackedLossEqualsExamplesAlone(t *testing.T) {
	backend := golden.Backend(t)
	m, err := llama.Load(filepath.Join(golden.Dir("llama"), "model"), backend)
	if err != nil {
		t.Fatal(err)
	}
	ig := int32(IgnoreLabel)
	seqs := []SFTSequence{
		{IDs: []int32{5, 17, 33, 2, 61, 8}, Labels: []int32{ig, ig, 33, 2, 61, 8}},
		{IDs: []int32{9, 40, 11}, Labels: []int32{ig, 40, 11}},
		{IDs: []int32{70, 3, 3, 88, 14}, Labels: []int32{ig, ig, ig, 88, 14}},
		{IDs: []int32{12, 50, 7, 7}, Labels: []int32{12, 50, 7, 7}},
		{IDs: []int32{44, 45, 46, 47, 48, 49, 50}, Labels: []int32{ig, ig, ig, ig, 48, 49, 50}},
	}
	packed, err := NewSFTDataset(seqs, SFTOptions{MaxLength: 12, Packing: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(packed.Rows) >= len(seqs) {
		t.Fatalf("%d rows for %d examples: nothing was packed", len(packed.Rows), len(seqs))
	}
	tr, err := NewTrainer(m.Params(), backend, CausalLMLoss(m.Decoder), DefaultAdamW(), 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Eval(packed.Batch(seq(0, len(packed.Rows)))...)
	if err != nil {
		t.Fatal(err)
	}
	sum, count := 0.0, 0
	for _, s := range seqs {
		alone := &SFTDataset{Rows: TruncateSFT([]SFTSequence{s}, 0), Length: len(s.IDs)}
		b := alone.Batch([]int{0})
		loss, err := tr.Eval(b[0], b[1]) // positions 0..T-1 by default
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, y := range tensors.MustCopyFlatData[int32](b[1]) {
			if y >= 0 {
				n++
			}
		}
		sum += loss * float64(n)
		count += n
	}
	if want := sum / float64(count); math.Abs(got-want) > 1e-5 {
		t.Errorf("packed loss %.7f, examples alone %.7f", got, want)
	}
}

// TestEpochOrder reads every row once per epoch, in an order fixed by the
// seed, and batches run on across epochs.
func TestEpochOrder(t *testing.T) {
	o := &EpochOrder{N: 5, Batch: 2, Seed: 3, Shuffle: true}
	var read []int
	for i := range 5 { // two epochs
		rows, err := o.Rows(i)
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, rows...)
	}
	for e := range 2 {
		epoch := slices.Clone(read[e*5 : e*5+5])
		slices.Sort(epoch)
		if !slices.Equal(epoch, []int{0, 1, 2, 3, 4}) {
			t.Errorf("epoch %d read %v, want each row once", e, read[e*5:e*5+5])
		}
	}
	if slices.Equal(read[:5], read[5:]) {
		t.Errorf("both epochs read the rows in the order %v", read[:5])
	}
	again := &EpochOrder{N: 5, Batch: 2, Seed: 3, Shuffle: true}
	if rows, _ := again.Rows(3); !slices.Equal(rows, read[6:8]) {
		t.Errorf("batch 3 read alone is %v, in sequence %v", rows, read[6:8])
	}
	inOrder := &EpochOrder{N: 5, Batch: 2}
	if rows, _ := inOrder.Rows(2); !slices.Equal(rows, []int{4, 0}) {
		t.Errorf("unshuffled batch 2 is %v, want [4 0]", rows)
	}
	if _, err := (&EpochOrder{N: 0, Batch: 2}).Rows(0); err == nil {
		t.Error("no rows: no error")
	}
}

// TestLoopBatchAtResumes: Loop.BatchAt is asked for micro-batches 0, 1, 2…
// across steps, and a run resumed from its checkpoint asks for those the
// uninterrupted run would have.
func TestLoopBatchAtResumes(t *testing.T) {
	run := func(dir string, stopAfter int, resume bool) []int {
		params := modeling.NewParams()
		params.Set("w", tensors.FromFlatDataAndDimensions([]float32{0.5}, 1))
		loss := func(g *Graph, batch []*Node) *Node {
			return ReduceAllMean(Square(Sub(params.Node(g, "w"), batch[0])))
		}
		tr, err := NewTrainer(params, golden.Backend(t), loss, DefaultAdamW(), 1)
		if err != nil {
			t.Fatal(err)
		}
		var asked []int
		l := &Loop{Trainer: tr, Iters: 4, Accumulate: 2, Schedule: Schedule{LR: 0.1}, StopAfter: stopAfter,
			Checkpoint: filepath.Join(dir, "last.safetensors"),
			BatchAt: func(i int) ([]*tensors.Tensor, error) {
				asked = append(asked, i)
				return []*tensors.Tensor{tensors.FromFlatDataAndDimensions([]float32{float32(i)}, 1)}, nil
			}}
		if _, err := l.Run(resume); err != nil {
			t.Fatal(err)
		}
		return asked
	}
	if got := run(t.TempDir(), 0, false); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("asked for %v, want 0..7", got)
	}
	dir := t.TempDir()
	first := run(dir, 2, false)
	second := run(dir, 0, true)
	if !slices.Equal(first, []int{0, 1, 2, 3}) || !slices.Equal(second, []int{4, 5, 6, 7}) {
		t.Errorf("stopped run asked for %v, resumed run for %v; want 0..3 then 4..7", first, second)
	}
}
