// Command sharding measures our sharded training beside JAX's on the host
// devices of XLA's CPU plugin: the same small GPT-2 (internal/anchor), the
// same initial weights and batches, trained data-parallel and fully
// sharded on 1, 2 and 4 devices by us and by JAX (jax_train.py, with
// NamedSharding), and prints the losses' largest difference and the step
// times side by side. With -golden it also writes JAX's losses for the test
// that checks ours against them in `make test`.
//
//	go run ./scripts/sharding -python .deps/venv-jax/bin/python
//
// (`make sharding-bench` builds that virtual environment from
// scripts/sharding/requirements.txt and runs this.)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/anchor"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/xla"
)

type run struct {
	Devices  int       `json:"devices"`
	Strategy string    `json:"strategy"`
	Losses   []float64 `json:"losses"`
	Step     float64   `json:"step_seconds"`
}

type result struct {
	JAX  string `json:"jax"`
	Runs []run  `json:"runs"`
}

func main() {
	python := flag.String("python", ".deps/venv-jax/bin/python", "the Python with jax, jaxlib and safetensors")
	steps := flag.Int("steps", 10, "training steps per run")
	dir := flag.String("dir", "build/sharding", "folder for the exchanged files")
	golden := flag.String("golden", "", "write JAX's losses here (training/testdata/jax_sharded.json)")
	out := flag.String("out", "", "also write the table into this markdown file, between <!-- sharding:begin --> and <!-- sharding:end -->")
	flag.Parse()
	if err := compare(*python, *steps, *dir, *golden, *out); err != nil {
		fmt.Fprintln(os.Stderr, "sharding:", err)
		os.Exit(1)
	}
}

func compare(python string, steps int, dir, golden, out string) error {
	corpus, err := assets.Path(assets.TinyShakespeare)
	if err != nil {
		return err
	}
	vocab, ids, targets, err := anchor.Batches(corpus, steps)
	if err != nil {
		return err
	}
	if err := exchange(dir, vocab, ids, targets); err != nil {
		return err
	}
	var ours []run
	for _, devices := range []int{1, 2, 4} {
		backend, err := xla.New(fmt.Sprintf("xla:cpu,devices=%d", devices))
		if err != nil {
			return err
		}
		for _, strategy := range []modeling.Strategy{modeling.DataParallel, modeling.FullyShard} {
			r, err := train(backend, vocab, devices, strategy, ids, targets)
			if err != nil {
				return fmt.Errorf("%s on %d devices: %w", strategy, devices, err)
			}
			fmt.Fprintf(os.Stderr, "ours %s on %d device(s): final loss %.6f, step %.1f ms\n", strategy, devices, r.Losses[len(r.Losses)-1], r.Step*1000)
			ours = append(ours, r)
		}
		backend.Finalize()
	}
	cmd := exec.Command(python, filepath.Join("scripts", "sharding", "jax_train.py"), dir)
	cmd.Env = append(os.Environ(), "XLA_FLAGS=--xla_force_host_platform_device_count=4", "JAX_PLATFORMS=cpu")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s jax_train.py: %w", python, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "jax.json"))
	if err != nil {
		return err
	}
	var theirs result
	if err := json.Unmarshal(data, &theirs); err != nil {
		return err
	}
	table := formatTable(ours, theirs)
	fmt.Print(table)
	if golden != "" {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			return err
		}
	}
	if out != "" {
		return writeSection(out, table)
	}
	return nil
}

// writeSection replaces the generated section of the markdown file path.
func writeSection(path, table string) error {
	const begin, end = "<!-- sharding:begin -->", "<!-- sharding:end -->"
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(old)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s ... %s section to replace", path, begin, end)
	}
	section := begin + "\n```text\n" + table + "```\n" + end
	return os.WriteFile(path, []byte(text[:i]+section+text[j+len(end):]), 0o644)
}

// exchange writes the model's config, its initial weights (Hugging Face's
// GPT2Model layout) and the batches with each step's learning rate.
func exchange(dir string, vocab int, ids, targets []*tensors.Tensor) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	backend, err := xla.New("go")
	if err != nil {
		return err
	}
	defer backend.Finalize()
	m, _, err := anchor.Model(vocab, backend)
	if err != nil {
		return err
	}
	init, err := m.Params().Weights()
	if err != nil {
		return err
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, "init.safetensors"), init, nil); err != nil {
		return err
	}
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return err
	}
	var x, y []int32
	lr := make([]float32, len(ids))
	for i := range ids {
		x = append(x, tensors.MustCopyFlatData[int32](ids[i])...)
		y = append(y, tensors.MustCopyFlatData[int32](targets[i])...)
		lr[i] = float32(anchor.Schedule.At(i))
	}
	set := weights.NewSet()
	set.Add("ids", tensors.FromFlatDataAndDimensions(x, len(ids), anchor.BatchSize, anchor.Context), "")
	set.Add("targets", tensors.FromFlatDataAndDimensions(y, len(ids), anchor.BatchSize, anchor.Context), "")
	set.Add("lr", tensors.FromFlatDataAndDimensions(lr, len(ids)), "")
	return weights.WriteSafetensors(filepath.Join(dir, "batches.safetensors"), set, nil)
}

// train runs the steps with strategy over the backend's devices (no
// sharding on one) and returns the losses and the median step time after
// two warm-up steps (which include compiling).
func train(backend compute.Backend, vocab, devices int, strategy modeling.Strategy, ids, targets []*tensors.Tensor) (run, error) {
	m, tr, err := anchor.Model(vocab, backend)
	if err != nil {
		return run{}, err
	}
	defer m.Params().Free()
	if devices > 1 {
		mesh, err := xla.NewMesh(backend, xla.MeshAxis{Name: xla.AxisData, Size: devices})
		if err != nil {
			return run{}, err
		}
		s, err := modeling.NewSharding(mesh, strategy)
		if err != nil {
			return run{}, err
		}
		if err := tr.Shard(s); err != nil {
			return run{}, err
		}
	}
	r := run{Devices: devices, Strategy: strategy.String()}
	var times []float64
	for i := range ids {
		start := time.Now()
		// Fresh tensors: a call may move its inputs onto the backend's device.
		x, err := ids[i].LocalClone()
		if err != nil {
			return run{}, err
		}
		y, err := targets[i].LocalClone()
		if err != nil {
			return run{}, err
		}
		loss, _, err := tr.Step(anchor.Schedule.At(i), x, y)
		if err != nil {
			return run{}, err
		}
		times = append(times, time.Since(start).Seconds())
		r.Losses = append(r.Losses, loss)
	}
	times = times[min(2, len(times)-1):]
	sort.Float64s(times)
	r.Step = times[len(times)/2]
	return r, nil
}

// formatTable lays our runs and JAX's side by side.
func formatTable(ours []run, theirs result) string {
	type key struct {
		devices  int
		strategy string
	}
	jax := map[key]run{}
	for _, r := range theirs.Runs {
		jax[key{r.Devices, r.Strategy}] = r
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-8s %-9s %12s %12s %12s %14s\n", "devices", "strategy", "ours (ms)", "jax (ms)", "ours/jax", "max |Δ loss|")
	sort.Slice(ours, func(i, j int) bool {
		if ours[i].Devices != ours[j].Devices {
			return ours[i].Devices < ours[j].Devices
		}
		return ours[i].Strategy < ours[j].Strategy
	})
	for _, r := range ours {
		j, ok := jax[key{r.Devices, r.Strategy}]
		if !ok {
			continue
		}
		worst := 0.0
		for i := range r.Losses {
			worst = math.Max(worst, math.Abs(r.Losses[i]-j.Losses[i]))
		}
		fmt.Fprintf(&sb, "%-8d %-9s %12.1f %12.1f %11.2fx %14.2g\n", r.Devices, r.Strategy, r.Step*1000, j.Step*1000, r.Step/j.Step, worst)
	}
	fmt.Fprintf(&sb, "(jax %s; measured %s)\n", theirs.JAX, time.Now().UTC().Format("2006-01-02"))
	return sb.String()
}
