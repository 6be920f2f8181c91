package main

import "testing"

func init() { robustGroups = append(robustGroups, fusedRouteCases) }

// fusedRouteCases ask for the fused low-bit route (ONNX Runtime's
// MatMulNBits) on an engine that lacks it: refused, naming the engine that
// has it, before any model is made.
func fusedRouteCases(t *testing.T, env robustEnv) []robustCase {
	bench := func(backend, scheme string) func(t *testing.T, dir string) []string {
		return func(t *testing.T, dir string) []string {
			return []string{"bench", "--backend", backend, "--quant", scheme, "--only", "decode b1", "--reps", "1"}
		}
	}
	return []robustCase{
		{"bench: int8 on the fused route on go", bench("go", "int8-fused"),
			[]string{"no fused low-bit product", "the fused route runs on onnx:cpu", "dequantize route"}},
	}
}
