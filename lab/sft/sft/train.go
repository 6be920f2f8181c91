package sft

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/llama"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/training"
)

// ReferenceFile is the run folder's file of the first steps' batches and
// learning rates: ids, targets and positions [steps, batch, max-length]
// int32 (targets are the labels shifted, −100 where ignored) and lr [steps]
// float64.
const ReferenceFile = "reference_batches.safetensors"

// Optimizer is the experiment's AdamW: PyTorch's defaults (betas 0.9,
// 0.999, epsilon 1e-8), as the Hugging Face Trainer uses them, with weight
// decay wd on every trained weight.
func Optimizer(wd float64) training.AdamW {
	return training.AdamW{Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8, WeightDecay: wd,
		Decay: func(string, []int) bool { return true }}
}

// Schedule is the experiment's learning rate: cosine from lr at step 0 to
// a tenth of it at the last step, no warm-up.
func (c Config) Schedule() training.Schedule {
	return training.Schedule{LR: c.LR, MinLR: c.LR / 10, DecayIters: c.Iters}
}

// fineTune trains m's adapters on data's packed rows, evaluating the loss
// on val, and records the training losses and step times; the first
// c.ReferenceSteps batches go to ReferenceFile.
func (res *Result) fineTune(c Config, r *lab.Run, backend compute.Backend, m *llama.Model, data, val *training.SFTDataset, stderr io.Writer) error {
	tr, err := training.NewTrainer(m.Params(), backend, training.CausalLMLoss(m.Decoder), Optimizer(c.WeightDecay), c.GradClip)
	if err != nil {
		return err
	}
	steps := c.ReferenceSteps
	if c.Quant != "" {
		steps = 0 // TRL's run would need the same quantized base
	}
	ref := &reference{steps: steps, path: filepath.Join(r.Dir, ReferenceFile), schedule: c.Schedule()}
	batchAt := data.Epochs(c.BatchSize, c.Seed, true)
	var stepTimes []time.Duration
	callbacks := []training.Callback{r, &lab.Progress{W: stderr, Total: c.Iters}, training.CallbackFunc(func(m training.Metrics) {
		if m.Split == "train" {
			res.Losses = append(res.Losses, m.Loss)
			stepTimes = append(stepTimes, time.Duration(float64(c.BatchSize*c.MaxLength)/m.TokensPerSec*float64(time.Second)))
		}
	})}
	if c.Callback != nil {
		callbacks = append(callbacks, c.Callback)
	}
	loop := &training.Loop{
		Trainer:  tr,
		Iters:    c.Iters,
		Schedule: c.Schedule(),
		BatchAt: func(i int) ([]*tensors.Tensor, error) {
			b, err := batchAt(i)
			if err != nil {
				return nil, err
			}
			return b, ref.add(i, b)
		},
		EvalInterval: c.EvalInterval,
		Evals:        []training.Eval{val.Eval("val", c.BatchSize)},
		Seed:         c.Seed,
		Callbacks:    callbacks,
	}
	if _, err := loop.Run(false); err != nil {
		return err
	}
	if len(stepTimes) > 1 {
		stepTimes = stepTimes[1:]
		slices.Sort(stepTimes)
		res.StepTime = stepTimes[len(stepTimes)/2]
	}
	return nil
}

// reference collects the first steps' batches and writes them, with the
// learning rates, to path once it has them all.
type reference struct {
	steps    int
	path     string
	schedule training.Schedule
	ids      [][]int32 // ids, targets, positions, flattened over the steps
	dims     []int
}

// add records micro-batch i (= step i: one micro-batch a step).
func (f *reference) add(i int, batch []*tensors.Tensor) error {
	if i >= f.steps || len(batch) != 3 {
		return nil
	}
	if f.ids == nil {
		f.ids, f.dims = make([][]int32, 3), batch[0].Shape().Dimensions
	}
	for k, t := range batch {
		f.ids[k] = append(f.ids[k], tensors.MustCopyFlatData[int32](t)...)
	}
	if i < f.steps-1 {
		return nil
	}
	set := weights.NewSet()
	dims := append([]int{f.steps}, f.dims...)
	for k, name := range []string{"ids", "targets", "positions"} {
		set.Add(name, tensors.FromFlatDataAndDimensions(f.ids[k], dims...), "")
	}
	lr := make([]float64, f.steps)
	for s := range lr {
		lr[s] = f.schedule.At(s)
	}
	set.Add("lr", tensors.FromFlatDataAndDimensions(lr, f.steps), "")
	if err := weights.WriteSafetensors(f.path, set, nil); err != nil {
		return fmt.Errorf("sft: %w", err)
	}
	return nil
}
