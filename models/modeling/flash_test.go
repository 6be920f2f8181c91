package modeling

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/golden"
)

// attentionInputs are random q [2, 4, T, 8], k and v [2, 2, T, 8]
// (grouped-query heads), a key mask [2, T] whose second row is left-padded
// by 3, and output weights r [2, 4, T, 8] that are zero on padding queries
// (rows with no key to see, which plain and blocked attention fill
// differently).
func attentionInputs(t int) []*tensors.Tensor {
	rng := rand.New(rand.NewPCG(3, 4))
	normal := func(dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(data, dims...)
	}
	valid := make([]int32, 2*t)
	for j := range t {
		valid[j] = 1
		valid[t+j] = int32(btoi(j >= 3))
	}
	r := normal(2, 4, t, 8)
	tensors.MustMutableFlatData(r, func(flat []float32) {
		for i := range flat {
			if b, q := i/(4*t*8), i/8%t; valid[b*t+q] == 0 {
				flat[i] = 0
			}
		}
	})
	return []*tensors.Tensor{normal(2, 4, t, 8), normal(2, 2, t, 8), normal(2, 2, t, 8), tensors.FromFlatDataAndDimensions(valid, 2, t), r}
}

// TestBlockedAttentionMatchesPlain: attention in blocks of queries and keys
// with the online softmax gives the plain attention's outputs (1e-5) and
// gradients with respect to q, k and v (1e-4), with grouped-query heads,
// padding, causality, sliding windows, the soft cap, ragged last blocks,
// and a mask given as a tensor rather than a rule.
func TestBlockedAttentionMatchesPlain(t *testing.T) {
	backend := golden.Backend(t)
	const n = 11
	in := attentionInputs(n)
	for _, tc := range []struct {
		name    string
		rule    MaskRule
		softCap float64
		block   int
		tensor  bool // the mask as an allowed tensor, not a rule
	}{
		{"causal", MaskRule{Causal: true}, 0, 4, false},
		{"causal/block3", MaskRule{Causal: true}, 0, 3, false},
		{"window", MaskRule{Causal: true, Window: 3}, 0, 2, false},
		{"window/block5", MaskRule{Causal: true, Window: 4}, 0, 5, false},
		{"softcap", MaskRule{Causal: true}, 1.5, 4, false},
		{"bidirectional", MaskRule{}, 0, 4, false},
		{"tensor", MaskRule{Causal: true, Window: 5}, 0, 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(block int) []*tensors.Tensor {
				out, err := ExecOnceN(backend, func(q, k, v, valid, r *Node) []*Node {
					rule := tc.rule
					rule.KeyValid = valid
					o := AttendOptions{Scale: 0.35, SoftCap: tc.softCap, Block: block, Mask: &rule}
					var allowed *Node
					if tc.tensor {
						allowed, o.Mask = rule.Allowed(q.Graph(), n, n), nil
					}
					att, _ := Scope{}.AttendWith(q, k, v, allowed, o)
					att = Mul(att, r)
					return append([]*Node{att}, Gradient(ReduceAllSum(att), q, k, v)...)
				}, in[0], in[1], in[2], in[3], in[4])
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			plain, blocked := run(0), run(tc.block)
			for i, name := range []string{"output", "dq", "dk", "dv"} {
				tol := 1e-4
				if i == 0 {
					tol = 1e-5
				}
				d, at, err := golden.MaxAbsDiff(blocked[i], plain[i])
				if err != nil || d > tol {
					t.Errorf("%s: max |blocked - plain| = %.3g at %d (tolerance %g), %v", name, d, at, tol, err)
				}
			}
		})
	}
}

// TestAttendPlan: blocked attention computes only the (query block, key
// block) pairs the mask does not hide entirely, decided when the graph is
// built: causal blocks above the diagonal and blocks past the window are
// skipped, and with a sparse pattern only its kept blocks are computed.
func TestAttendPlan(t *testing.T) {
	pattern := &SparsePattern{Block: 4, Local: 1, Global: 1, Random: 1, Seed: 7}
	for _, tc := range []struct {
		name     string
		n, block int
		rule     *MaskRule
		pairs    int
		masked   int // pairs that need a mask (partial)
	}{
		{"causal", 16, 4, &MaskRule{Causal: true}, 10, 4},
		{"causal/ragged", 10, 4, &MaskRule{Causal: true}, 6, 3},
		{"window", 16, 4, &MaskRule{Causal: true, Window: 4}, 7, 7},
		{"window/wide", 32, 4, &MaskRule{Causal: true, Window: 9}, 8 + 7 + 6, 8 + 6},
		{"bidirectional", 16, 4, &MaskRule{}, 16, 0},
		{"tensor", 16, 4, nil, 16, 16},
		{"sparse", 64, 4, &MaskRule{Causal: true}, pattern.Kept(16, 16, true), 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sparse *SparsePattern
			if tc.name == "sparse" {
				sparse = pattern
			}
			pairs, masked := 0, 0
			for _, keys := range attendPlan(tc.n, tc.n, tc.block, tc.rule, sparse) {
				for _, kb := range keys {
					pairs++
					masked += btoi(kb.cover == partial)
				}
			}
			if pairs != tc.pairs || masked != tc.masked {
				t.Errorf("%d pairs, %d masked; want %d, %d", pairs, masked, tc.pairs, tc.masked)
			}
		})
	}
}

// TestSparsePattern: the Longformer/BigBird block pattern keeps the local
// band, the global rows and columns and the random blocks, causally
// when asked, the same for the same seed, and its blocks grow linearly
// with the length, not with its square.
func TestSparsePattern(t *testing.T) {
	p := SparsePattern{Block: 2, Local: 1, Global: 1, Random: 1, Seed: 1}
	got := p.Draw(6, 6, false)
	lines := strings.Fields(got)
	if lines[0] != "######" {
		t.Errorf("the global query block sees %q, want every block", lines[0])
	}
	for i, line := range lines {
		if line[0] != '#' || line[max(i-1, 0)] != '#' || line[i] != '#' || line[min(i+1, 5)] != '#' {
			t.Errorf("query block %d sees %q: want the global block and its neighbours", i, line)
		}
		if i > 0 && strings.Count(line, "#") != min(6, 1+btoi(i > 1)+btoi(i < 5)+1+1) {
			t.Errorf("query block %d sees %q: want global, local and 1 random", i, line)
		}
	}
	if again := p.Draw(6, 6, false); again != got {
		t.Errorf("the pattern changed with the same seed:\n%s\n%s", got, again)
	}
	for i, line := range strings.Fields(p.Draw(6, 6, true)) {
		if strings.Contains(line[i+1:], "#") {
			t.Errorf("causal query block %d sees a later block: %q", i, line)
		}
	}
	big := SparsePattern{Block: 64, Local: 1, Global: 2, Random: 3}
	k1, k2 := big.Kept(64, 64, true), big.Kept(128, 128, true)
	if ratio := float64(k2) / float64(k1); math.Abs(ratio-2) > 0.1 {
		t.Errorf("kept blocks at 64 and 128 blocks: %d, %d (ratio %.2f, want about 2)", k1, k2, ratio)
	}
}

// TestSparseMatchesDense: block-sparse attention computed over its kept
// blocks equals dense attention under the same mask (the pattern ANDed
// with causality and padding), outputs and gradients.
func TestSparseMatchesDense(t *testing.T) {
	backend := golden.Backend(t)
	const n = 11
	in := attentionInputs(n)
	pattern := &SparsePattern{Block: 2, Local: 1, Global: 1, Random: 1, Seed: 5}
	run := func(block int) []*tensors.Tensor {
		out, err := ExecOnceN(backend, func(q, k, v, valid, r *Node) []*Node {
			o := AttendOptions{Scale: 0.35, Block: block, Sparse: pattern, Mask: &MaskRule{Causal: true, KeyValid: valid}}
			att, _ := Scope{}.AttendWith(q, k, v, nil, o)
			att = Mul(att, r)
			return append([]*Node{att}, Gradient(ReduceAllSum(att), q, k, v)...)
		}, in[0], in[1], in[2], in[3], in[4])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	dense, sparse := run(0), run(pattern.Block)
	for i, name := range []string{"output", "dq", "dk", "dv"} {
		tol := 1e-4
		if i == 0 {
			tol = 1e-5
		}
		if d, at, err := golden.MaxAbsDiff(sparse[i], dense[i]); err != nil || d > tol {
			t.Errorf("%s: max |sparse - dense| = %.3g at %d (tolerance %g), %v", name, d, at, tol, err)
		}
	}
	// The pattern hides something, so it is not plain causal attention.
	causal, err := ExecOnce(backend, func(q, k, v, valid, r *Node) *Node {
		att, _ := Scope{}.AttendWith(q, k, v, nil, AttendOptions{Scale: 0.35, Mask: &MaskRule{Causal: true, KeyValid: valid}})
		return Mul(att, r)
	}, in[0], in[1], in[2], in[3], in[4])
	if err != nil {
		t.Fatal(err)
	}
	if d, _, _ := golden.MaxAbsDiff(causal, dense[0]); d < 1e-3 {
		t.Errorf("the sparse pattern changed nothing (max |diff| %.3g): the test proves nothing", d)
	}
}
