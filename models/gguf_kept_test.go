package models_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// keptTolerance bounds the kept model's logits against the
// dequantized-at-load model's: the same float32 weights, products summed
// in another order where a large head is multiplied a slice at a time.
const keptTolerance = 1e-4

// TestGGUFKeptMatchesDequantized loads the real SmolLM2-135M Q4_1 and Gemma
// 3 270M Q4_K_M files twice, with their block-quantized tensors kept as
// codes (the default) and dequantized at load (dtype float32), and checks
// on the real-checkpoint tests' prompts that the kept model holds codes
// (no float32 2-D weight of a kept type), that its logits at every
// position equal the float32 model's within keptTolerance, and that 8
// greedy tokens (the KV-cache path) are the same.
func TestGGUFKeptMatchesDequantized(t *testing.T) {
	for _, c := range []struct {
		asset, reference string
	}{
		{assets.SmolLM2, "smollm2/reference.safetensors"},
		{assets.Gemma3, "gemma3-270m/reference.safetensors"},
	} {
		t.Run(c.asset, func(t *testing.T) {
			path := assets.RequireModel(t, c.asset)
			ref, err := weights.ReadSafetensors(filepath.Join("testdata", c.reference))
			if err != nil {
				t.Fatal(err)
			}
			ids := golden.IDs(t, ref, "input_ids")
			start := time.Now()
			kept := loadLM(t, path, modeling.LoadOptions{})
			loaded := time.Since(start)
			checkKept(t, kept.Params())
			keptLogits, keptIDs, keptTime := forwardAndGreedy(t, kept, ids[0])
			kept = nil
			full := loadLM(t, path, modeling.LoadOptions{DType: "float32"})
			fullLogits, fullIDs, fullTime := forwardAndGreedy(t, full, ids[0])
			worst := 0.0
			for i := range fullLogits {
				worst = max(worst, math.Abs(float64(keptLogits[i]-fullLogits[i])))
			}
			if worst > keptTolerance {
				t.Errorf("logits differ by up to %.3g (tolerance %g)", worst, keptTolerance)
			}
			if !slices.Equal(keptIDs, fullIDs) {
				t.Errorf("greedy ids %v, dequantized at load %v", keptIDs, fullIDs)
			}
			t.Logf("kept model loaded in %v; logits within %.3g of the float32 load; greedy %v in %v (float32: %v)",
				loaded.Round(time.Millisecond), worst, keptIDs, keptTime.Round(time.Millisecond), fullTime.Round(time.Millisecond))
		})
	}
}

func loadLM(t *testing.T, path string, opts modeling.LoadOptions) models.CausalLM {
	t.Helper()
	m, err := models.LoadWith(path, golden.Backend(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return m.(models.CausalLM)
}

// checkKept fails unless params hold some weight as codes and none of a
// kept type's 2-D weights as float32 beside them.
func checkKept(t *testing.T, params *modeling.Params) {
	t.Helper()
	codes, bytes := 0, 0
	for _, name := range params.Names() {
		shape := params.Variable(name).Shape()
		bytes += int(shape.ByteSize())
		if shape.DType == dtypes.Int8 || shape.DType == dtypes.Uint8 {
			codes++
		}
	}
	if codes == 0 {
		t.Fatal("no weight is held as codes")
	}
	t.Logf("%d weights held as codes; all weights take %.1f MB", codes, float64(bytes)/1e6)
}

// forwardAndGreedy returns the logits at every position of ids and 8
// greedy tokens after them, with the time those took.
func forwardAndGreedy(t *testing.T, m models.CausalLM, ids []int32) ([]float32, []int32, time.Duration) {
	t.Helper()
	out, err := m.Forward(modeling.Batch{IDs: [][]int32{ids}}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logits := tensors.MustCopyFlatData[float32](out.Logits)
	start := time.Now()
	got, err := generate.Generate(m, ids, generate.Options{MaxNewTokens: 8})
	if err != nil {
		t.Fatal(err)
	}
	return logits, got, time.Since(start)
}

// TestLoadWithRefusesDType checks that a dtype LoadWith does not know is an
// error naming the model and the dtype, before anything is read.
func TestLoadWithRefusesDType(t *testing.T) {
	for _, dtype := range []string{"bf16", "int4", "Float32 "} {
		_, err := models.LoadWith("no-such-model.gguf", nil, modeling.LoadOptions{DType: dtype})
		if err == nil || !strings.Contains(err.Error(), "no-such-model.gguf") || !strings.Contains(err.Error(), "auto or float32") {
			t.Errorf("dtype %q: %v, want an error naming the model and the dtypes known", dtype, err)
		}
	}
}
