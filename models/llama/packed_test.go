package llama

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
)

// TestPackedRowEqualsExamplesAlone packs several examples into one row, as
// TRL's packing does (position ids restarting at 0 where each example
// starts, padding at the end), and checks that every example's logits are
// those it has when run alone: no example sees another. Mistral's sliding
// window (3) narrows attention inside each example too.
func TestPackedRowEqualsExamplesAlone(t *testing.T) {
	examples := [][]int32{{5, 17, 33, 2, 61}, {9, 40, 11}, {70, 3, 3, 88}, {12}}
	const pad = 0
	var ids, positions []int32
	for _, ex := range examples {
		ids = append(ids, ex...)
		for i := range ex {
			positions = append(positions, int32(i))
		}
	}
	for len(ids) < 16 { // padding: each token its own example, position 0
		ids, positions = append(ids, pad), append(positions, 0)
	}
	// A second row holds the same examples in another order, so that the
	// batch axis is checked as well.
	order := []int{2, 0, 3, 1}
	var ids2, positions2 []int32
	for _, i := range order {
		ids2 = append(ids2, examples[i]...)
		for j := range examples[i] {
			positions2 = append(positions2, int32(j))
		}
	}
	for len(ids2) < 16 {
		ids2, positions2 = append(ids2, pad), append(positions2, 0)
	}
	for _, c := range []struct {
		family    string
		attention modeling.AttentionSettings
	}{
		{"llama", modeling.AttentionSettings{}},
		{"mistral", modeling.AttentionSettings{}},
		// Blocked attention over blocks of 4 builds each block's mask from a
		// rule, segments included.
		{"llama", modeling.AttentionSettings{Impl: modeling.AttentionBlocked, Block: 4}},
		{"mistral", modeling.AttentionSettings{Impl: modeling.AttentionBlocked, Block: 4}},
	} {
		t.Run(c.family+"/"+c.attention.Impl.String(), func(t *testing.T) {
			m := load(t, c.family, "model")
			m.Decoder.Attention = c.attention
			packed, err := m.Decoder.Forward(modeling.Batch{IDs: [][]int32{ids, ids2}, PositionIDs: [][]int32{positions, positions2}}, modeling.ForwardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](packed.Logits)
			vocab := packed.Logits.Shape().Dimensions[2]
			starts := [2]map[int]int{{}, {}} // example -> its first slot in each row
			at := 0
			for i, ex := range examples {
				starts[0][i] = at
				at += len(ex)
			}
			at = 0
			for _, i := range order {
				starts[1][i] = at
				at += len(examples[i])
			}
			for i, ex := range examples {
				alone, err := m.Decoder.Forward(modeling.Batch{IDs: [][]int32{ex}}, modeling.ForwardOptions{})
				if err != nil {
					t.Fatal(err)
				}
				want := tensors.MustCopyFlatData[float32](alone.Logits)
				for row := range 2 {
					off := (row*16 + starts[row][i]) * vocab
					worst := 0.0
					for j, w := range want {
						worst = max(worst, math.Abs(float64(got[off+j]-w)))
					}
					if worst > 1e-5 {
						t.Errorf("row %d, example %d (%d tokens): packed logits differ from the example alone by %g", row, i, len(ex), worst)
					}
				}
			}
		})
	}
}
