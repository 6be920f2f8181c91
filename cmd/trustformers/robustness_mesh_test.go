package main

import (
	"testing"
)

func init() { robustGroups = append(robustGroups, meshCases) }

// meshCases are -mesh and -strategy settings that cannot work, on the
// experiments and on generate: each is refused before any training or
// generation starts, naming the axis, strategy, batch, backend or weight.
// And one that works: generate tensor-parallel over two host devices.
func meshCases(t *testing.T, env robustEnv) []robustCase {
	train := func(flags ...string) func(t *testing.T, dir string) []string {
		return func(t *testing.T, dir string) []string {
			return append([]string{"train", "shakespeare_char", "-data", env.shakespeare, "-runs", dir, "-iters", "2"}, flags...)
		}
	}
	generate := func(flags ...string) func(t *testing.T, dir string) []string {
		return func(t *testing.T, dir string) []string {
			requireXLACPU(t)
			return append([]string{"generate", "--model", env.gpt2Dir, "--prompt-ids", "1 2 3", "--max-new-tokens", "2", "--backend", "xla:cpu"}, flags...)
		}
	}
	return []robustCase{
		{"mesh axis unknown", train("-mesh", "pipe=2"), []string{`mesh axis "pipe"`, "data, model"}},
		{"mesh axis twice", train("-mesh", "data=2,data=2"), []string{`mesh axis "data" appears twice`}},
		{"mesh not name=size", train("-mesh", "data:2"), []string{`mesh "data:2"`, "name=size"}},
		{"strategy unknown", train("-mesh", "data=2", "-strategy", "zero4"), []string{`unknown sharding strategy "zero4"`}},
		{"strategy without its axis", train("-mesh", "data=2", "-strategy", "tensor"), []string{"strategy tensor", `needs a "model" axis`}},
		{"strategy without a mesh", train("-strategy", "zero2"), []string{`strategy "zero2" needs a mesh`}},
		{"data axis does not divide the batch", train("-mesh", "data=5", "-strategy", "zero2"),
			[]string{`mesh axis "data" of 5 devices`, "batch of 12 rows"}},
		{"mesh on an engine of one device", train("-mesh", "data=2", "-backend", "go"),
			[]string{`backend "go" has one device`, "needs 2"}},
		{"mesh larger than the backend's devices", train("-mesh", "data=4", "-backend", "xla:cpu,devices=2"),
			[]string{"-mesh data=4", `backend "xla:cpu,devices=2" has 2 devices`, "needs 4"}},
		{"model axis that divides no weight", func(t *testing.T, dir string) []string {
			requireXLACPU(t)
			return train("-mesh", "model=2", "-strategy", "tensor", "-backend", "xla:cpu")(t, dir)
		}, []string{"-strategy tensor", `weight "`, "65", `"model" axis of 2 devices`}},
		{"generate: more host devices than exist", generate("--mesh", "data=1000"), []string{"-mesh data=1000", "devices=", "1 to 256"}},
		{"generate: model axis that divides no weight", generate("--mesh", "model=5", "--strategy", "tensor"),
			[]string{`weight "`, `"model" axis of 5 devices`}},
		{"generate tensor-parallel over two host devices", generate("--mesh", "model=2", "--strategy", "tensor"), nil},
	}
}
