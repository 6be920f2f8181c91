// Package anchor is the comparison of our sharded training with JAX's: one
// small GPT-2 (nanoGPT's Shakespeare character model), its initial weights,
// the batches and the learning rates of a few steps, which
// scripts/sharding writes for scripts/sharding/jax_train.py and which the
// test of JAX's committed losses rebuilds.
package anchor

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/training"
)

// The comparison's settings: nanoGPT's shakespeare_char model and batch,
// its optimizer (betas 0.9/0.99, weight decay 0.1, clipping at 1) and a
// learning rate warmed up over 2 steps to 1e-3.
const (
	Seed      = 1337
	BatchSize = 12
	Context   = 64
)

// Config is the model: 4 layers, 4 heads, 128 wide, the corpus's 65
// characters.
func Config(vocab int) *gpt2.Config {
	return &gpt2.Config{VocabSize: vocab, NPositions: Context, NEmbd: 128, NLayer: 4, NHead: 4}
}

// Schedule is the learning rate of every step.
var Schedule = training.Schedule{LR: 1e-3, MinLR: 1e-4, WarmupIters: 2, DecayIters: 2000}

// Optimizer is the AdamW both sides run.
var Optimizer = training.AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}

// ClipNorm is the global gradient-norm limit.
const ClipNorm = 1.0

// Batches draws steps training batches (inputs and next-token targets,
// [BatchSize, Context] each) from the Tiny Shakespeare file at corpus.
func Batches(corpus string, steps int) (vocab int, ids, targets []*tensors.Tensor, err error) {
	v, data, err := training.LoadCharDataset(corpus)
	if err != nil {
		return 0, nil, nil, err
	}
	rng := rand.New(rand.NewPCG(Seed, 1))
	for range steps {
		x, y, err := data.Batch(rng, "train", BatchSize, Context)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("%s: %w", corpus, err)
		}
		ids, targets = append(ids, x), append(targets, y)
	}
	return v.Size(), ids, targets, nil
}

// Model returns the comparison's model with its initial weights on backend,
// and a trainer of it (mean next-token cross-entropy).
func Model(vocab int, backend compute.Backend) (*gpt2.Model, *training.Trainer, error) {
	m, err := gpt2.NewRandom(Config(vocab), Seed, backend)
	if err != nil {
		return nil, nil, err
	}
	loss := func(g *Graph, batch []*Node) *Node {
		ids, targets := batch[0], batch[1]
		logits, _, _ := m.ForwardGraph(ids, Iota(g, shapes.Make(dtypes.Int32, ids.Shape().Dimensions...), 1), nil)
		return training.CrossEntropy(logits, targets)
	}
	tr, err := training.NewTrainer(m.Params(), backend, loss, Optimizer, ClipNorm)
	if err != nil {
		return nil, nil, err
	}
	return m, tr, nil
}
