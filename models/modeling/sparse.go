package modeling

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	. "github.com/gomlx/gomlx/core/graph"
)

// SparsePattern is a block-sparse attention pattern in the manner of
// Longformer and BigBird: positions are cut into blocks of Block, and a
// query block sees a local window of key blocks around its own, the global
// blocks, and a few random blocks. Blocked attention computes only the
// kept (query block, key block) pairs, so its work grows with the number
// of blocks kept rather than with the square of the length; inside a kept
// block the token mask (causality, window, padding) still applies.
type SparsePattern struct {
	// Block is the number of positions per block.
	Block int
	// Local is how many blocks on each side of its own a query block sees
	// (1: BigBird's sliding window of three blocks).
	Local int
	// Global is how many leading blocks are global: every query block sees
	// them, and they see every key block (BigBird's ITC, Longformer's
	// global tokens rounded to blocks).
	Global int
	// Random is how many more key blocks each other query block sees,
	// drawn with Seed (the same pattern every time).
	Random int
	// Seed draws the random blocks.
	Seed uint64
}

// String spells the pattern's fields, as program keys and benchmarks name it.
func (p SparsePattern) String() string {
	return fmt.Sprintf("sparse(block %d, local %d, global %d, random %d, seed %d)", p.Block, p.Local, p.Global, p.Random, p.Seed)
}

// BlockMask returns which key blocks each query block keeps, kept[i][j],
// for numQ query blocks and numK key blocks; with causal, no block after
// the query block's own (random blocks are drawn among the earlier ones).
// It is what blocked attention computes, and what a heatmap draws.
func (p SparsePattern) BlockMask(numQ, numK int, causal bool) [][]bool {
	kept := make([][]bool, numQ)
	for i := range kept {
		kept[i] = make([]bool, numK)
		limit := numK // key blocks [0, limit) may be kept
		if causal {
			limit = min(i+1, numK)
		}
		for j := range limit {
			kept[i][j] = i < p.Global || j < p.Global || (j >= i-p.Local && j <= i+p.Local)
		}
		if i < p.Global {
			continue
		}
		var free []int
		for j := range limit {
			if !kept[i][j] {
				free = append(free, j)
			}
		}
		rng := rand.New(rand.NewPCG(p.Seed, uint64(i)))
		rng.Shuffle(len(free), func(a, b int) { free[a], free[b] = free[b], free[a] })
		for _, j := range free[:min(p.Random, len(free))] {
			kept[i][j] = true
		}
	}
	return kept
}

// Kept counts the blocks BlockMask keeps.
func (p SparsePattern) Kept(numQ, numK int, causal bool) int {
	n := 0
	for _, row := range p.BlockMask(numQ, numK, causal) {
		for _, k := range row {
			if k {
				n++
			}
		}
	}
	return n
}

// Allowed returns the pattern's mask over positions, [1, 1, numQ, numK]
// boolean, as a constant of g: what dense attention ANDs with its own mask
// to compute the same block-sparse attention.
func (p SparsePattern) Allowed(g *Graph, numQ, numK int, causal bool) *Node {
	kept := p.BlockMask(ceilDiv(numQ, p.Block), ceilDiv(numK, p.Block), causal)
	flat := make([]bool, numQ*numK)
	for i := range numQ {
		for j := range numK {
			flat[i*numK+j] = kept[i/p.Block][j/p.Block]
		}
	}
	return Const(g, tensors.FromFlatDataAndDimensions(flat, 1, 1, numQ, numK))
}

// Draw returns BlockMask as text, one line per query block: '#' for a kept
// key block, '.' for a skipped one.
func (p SparsePattern) Draw(numQ, numK int, causal bool) string {
	var b strings.Builder
	for _, row := range p.BlockMask(numQ, numK, causal) {
		for _, k := range row {
			b.WriteByte(".#"[btoi(k)])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// check returns an error when the pattern cannot be used.
func (p SparsePattern) check() error {
	if p.Block <= 0 || p.Local < 0 || p.Global < 0 || p.Random < 0 {
		return fmt.Errorf("attention: %s: the block must be positive and the counts not negative", p)
	}
	return nil
}
