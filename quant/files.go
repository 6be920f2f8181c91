package quant

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

func init() { models.RegisterQuantized(Load) }

// configEntry is config.json's "quantization_config".
type configEntry struct {
	Method string `json:"quant_method"`
	Quantized
}

// Save writes the quantized model m to dir: the family's config.json with a
// "quantization_config" entry ({"quant_method": "trustformers", "scheme",
// "group_size", "double_quant", "modules", "weights", "transposed"}) and
// model.safetensors holding every float weight as before and each quantized
// weight w as its codes under w (int8 [out, in] for int8, uint8 [out, in/2]
// with two 4-bit codes per byte, the even input in the low nibble, for int4
// and nf4) beside w_scale (float32 [out] or [out, in/group]), w_zero (uint8
// [out, in/group], int4) or, for double-quantized nf4, w_scale_codes (int8),
// w_scale_scale (float32, one per 256 maxima) and w_scale_offset (float32).
// models.Load (with this package imported) and Load read it back.
func Save(m models.Model, q *Quantized, dir string) error {
	params := m.Params()
	if err := m.Save(dir); err != nil {
		return err
	}
	// The family's Save may rename its weights (BERT's "bert." prefix);
	// the quantized tensors are written under the names Params give them,
	// which every family's loader also accepts.
	set, err := params.Weights()
	if err != nil {
		return err
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, weights.SafetensorsFile), set, nil); err != nil {
		return err
	}
	path := filepath.Join(dir, modeling.ConfigFile)
	data, err := files.ReadFile(path, files.ConfigLimit)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cfg["quantization_config"] = configEntry{Method: models.QuantMethodTrustformers, Quantized: *q}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return files.WriteFile(path, append(out, '\n'))
}

// Read returns what the quantized model folder dir holds, from its
// config.json's quantization_config.
func Read(dir string) (*Quantized, error) {
	path := filepath.Join(dir, modeling.ConfigFile)
	var c struct {
		Q *configEntry `json:"quantization_config"`
	}
	if err := modeling.ReadConfig(path, &c, "quantization_config"); err != nil {
		return nil, err
	}
	if c.Q.Method != models.QuantMethodTrustformers {
		return nil, fmt.Errorf("%s: quantization_config.quant_method is %q, not %q", path, c.Q.Method, models.QuantMethodTrustformers)
	}
	q := &c.Q.Quantized
	if err := q.Config.check(); err != nil {
		return nil, fmt.Errorf("%s: quantization_config: %w", path, err)
	}
	if len(q.Weights) == 0 {
		return nil, fmt.Errorf("%s: quantization_config.weights lists no weight", path)
	}
	return q, nil
}

// Load reads a quantized model folder that Save wrote onto backend; the
// model computes with exactly the stored codes and scales. models.Load
// calls it for such folders once this package is imported.
func Load(dir string, backend compute.Backend) (models.Model, error) {
	q, err := Read(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	transposed := map[string]bool{}
	for _, name := range q.Transposed {
		transposed[name] = true
	}
	// The family is built without the quantized weights (pending in the
	// set, checked against its specs in the checkpoint's layout); their
	// codes and scales are installed afterwards.
	stored := map[string]map[string]*tensors.Tensor{}
	q.layouts = map[string]Layout{}
	for _, name := range q.Weights {
		parts := map[string]*tensors.Tensor{}
		for _, suffix := range []string{"", suffixScale, suffixZero, suffixScaleCodes, suffixScaleScale, suffixScaleOffset} {
			if t, ok := set.Get(name + suffix); ok {
				parts[suffix] = t
				set.Delete(name + suffix)
			}
		}
		if parts[""] == nil {
			return nil, fmt.Errorf("%s: quantized weight %q is missing", dir, name)
		}
		l, err := layoutOf(q.Config, name, parts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		q.layouts[name] = l
		stored[name] = parts
		rows, cols := l.Rows, l.Cols
		if transposed[name] {
			rows, cols = cols, rows
		}
		set.AddPending(name, rows, cols)
	}
	m, err := models.FromWeights(dir, set, backend)
	if err != nil {
		return nil, err
	}
	params := m.Params()
	for _, name := range q.Weights {
		if err := install(params, name, stored[name]); err != nil {
			return nil, err
		}
		if err := setTransform(params, name, q.layouts[name], Auto); err != nil {
			return nil, err
		}
	}
	if err := params.MoveToDevice(backend); err != nil {
		return nil, err
	}
	return m, nil
}
