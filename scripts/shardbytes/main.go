// Command shardbytes prints the bytes each device holds for the weights,
// the gradients and the optimizer state (AdamW's two moments) of nanoGPT's
// Shakespeare character model under every sharding strategy, read from the
// device buffers (modeling.Params.Footprint) after one training step on
// host devices of XLA's CPU plugin. docs/sharding.md's table is its output.
//
//	go run ./scripts/shardbytes [-devices 4]
//
// Gradients are counted where they are buffers that outlast a program. The
// one-program step of data, fsdp and tensor holds them only inside the
// compiled program, so each run takes its step as an accumulated step of
// two micro-batches (Trainer.StepAccumulated), whose accumulators are
// gradient buffers laid out as the strategy lays gradients out; ZeRO's
// own steps keep the same buffers.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// model is nanoGPT's Shakespeare character GPT (4 layers, 4 heads, 128
// wide, context 64), its vocabulary of 65 padded to 68 so that a model
// axis of 2 or 4 divides it.
var model = gpt2.Config{VocabSize: 68, NPositions: 64, NEmbd: 128, NLayer: 4, NHead: 4}

func main() {
	devices := flag.Int("devices", 4, "host devices")
	flag.Parse()
	if err := run(*devices); err != nil {
		fmt.Fprintln(os.Stderr, "shardbytes:", err)
		os.Exit(1)
	}
}

// layout is a strategy on a mesh.
type layout struct {
	strategy modeling.Strategy
	mesh     string
}

func run(devices int) error {
	backend, err := xla.New(fmt.Sprintf("xla:cpu,devices=%d", devices))
	if err != nil {
		return err
	}
	defer backend.Finalize()
	half := devices / 2
	layouts := []layout{{0, ""}}
	for _, s := range modeling.Strategies {
		mesh := fmt.Sprintf("data=%d", devices)
		if s == modeling.TensorParallel {
			mesh = fmt.Sprintf("model=%d", devices)
		}
		layouts = append(layouts, layout{s, mesh})
	}
	for _, s := range modeling.Strategies {
		layouts = append(layouts, layout{s, fmt.Sprintf("data=%d,model=%d", half, half)})
	}
	fmt.Printf("GPT-2 %d layers, %d wide, vocabulary %d, context %d (%s); AdamW; bytes on the device that holds most\n\n",
		model.NLayer, model.NEmbd, model.VocabSize, model.NPositions, xla.SpecOf(backend))
	fmt.Println("| strategy | mesh | weights | gradients | optimizer state | total |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: |")
	for _, l := range layouts {
		f, err := measure(backend, l)
		if err != nil {
			return fmt.Errorf("%s over %s: %w", l.strategy, l.mesh, err)
		}
		name, mesh := l.strategy.String(), "{"+strings.ReplaceAll(l.mesh, "=", ": ")+"}"
		if l.mesh == "" {
			name, mesh = "one device", "—"
		}
		w, g, o := most(f.Weights), most(f.Gradients), most(f.OptimizerState)
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", name, strings.ReplaceAll(mesh, ",", ", "), kb(w), kb(g), kb(o), kb(w+g+o))
	}
	return nil
}

// measure trains a fresh model laid out as l for one accumulated step and
// returns what each device holds.
func measure(backend compute.Backend, l layout) (modeling.Footprint, error) {
	m, err := gpt2.NewRandom(&model, 1, backend)
	if err != nil {
		return modeling.Footprint{}, err
	}
	tr, err := training.NewTrainer(m.Params(), backend, training.CausalLMLoss(m.Decoder),
		training.AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}, 1)
	if err != nil {
		return modeling.Footprint{}, err
	}
	if l.mesh != "" {
		mesh, err := xla.ParseMesh(backend, l.mesh)
		if err != nil {
			return modeling.Footprint{}, err
		}
		s, err := modeling.NewSharding(mesh, l.strategy)
		if err != nil {
			return modeling.Footprint{}, err
		}
		if err := tr.Shard(s); err != nil {
			return modeling.Footprint{}, err
		}
	}
	if _, _, err := tr.StepAccumulated(1e-3, [][]*tensors.Tensor{batch(1), batch(2)}); err != nil {
		return modeling.Footprint{}, err
	}
	return m.Params().Footprint(backend)
}

// batch returns 8 random sequences of the model's context and their next
// tokens.
func batch(seed uint64) []*tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := 8 * model.NPositions
	ids, targets := make([]int32, n), make([]int32, n)
	for i := range ids {
		ids[i], targets[i] = int32(rng.IntN(model.VocabSize)), int32(rng.IntN(model.VocabSize))
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, 8, model.NPositions),
		tensors.FromFlatDataAndDimensions(targets, 8, model.NPositions)}
}

// most returns the largest count of bytes on any device.
func most(perDevice []int64) int64 {
	var m int64
	for _, n := range perDevice {
		m = max(m, n)
	}
	return m
}

// kb writes bytes in kB with one decimal.
func kb(n int64) string { return fmt.Sprintf("%.1f kB", float64(n)/1000) }
