package modeling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models/weights"
)

// ConfigFile is the name of a model folder's configuration.
const ConfigFile = "config.json"

// ReadConfig decodes the config.json at path into cfg (a family's Config,
// whose fields mirror the file's). Each name in required must be present: a
// missing one is an error naming the file and the field.
func ReadConfig(path string, cfg any, required ...string) error {
	data, err := files.ReadFile(path, files.ConfigLimit)
	if err != nil {
		return err
	}
	return DecodeConfig(path, data, cfg, required...)
}

// DecodeConfig is ReadConfig for bytes already read; path names them in errors.
func DecodeConfig(path string, data []byte, cfg any, required ...string) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%s: %w", path, syntaxContext(data, err))
	}
	var missing []string
	for _, f := range required {
		if v, ok := raw[f]; !ok || bytes.Equal(v, []byte("null")) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%s: missing field %s", path, quoteAll(missing))
	}
	if err := json.Unmarshal(data, cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// syntaxContext adds to a JSON syntax error the line and the text where it
// lies, which name the field at fault, and says when that text is a NaN or
// an infinity (which Python's json module writes and JSON does not allow).
func syntaxContext(data []byte, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset <= 0 || se.Offset > int64(len(data)) {
		return err
	}
	at := int(se.Offset) - 1
	line := 1 + bytes.Count(data[:at], []byte("\n"))
	near := strings.Join(strings.Fields(string(data[max(0, at-30):min(len(data), at+20)])), " ")
	hint := ""
	for _, word := range []string{"NaN", "Infinity", "-Infinity"} {
		if bytes.HasPrefix(data[at:], []byte(word)) || at > 0 && bytes.HasPrefix(data[at-1:], []byte(word)) {
			hint = "; JSON has no NaN or Infinity"
		}
	}
	return fmt.Errorf("line %d: %w, near `%s`%s", line, err, near, hint)
}

// ModelType reads the "model_type" field of the config.json in dir.
func ModelType(dir string) (string, error) {
	path := filepath.Join(dir, ConfigFile)
	var c struct {
		ModelType string `json:"model_type"`
	}
	if err := ReadConfig(path, &c, "model_type"); err != nil {
		return "", err
	}
	return c.ModelType, nil
}

// WriteConfig writes cfg as indented JSON to dir/config.json, through a
// temporary file renamed into place.
func WriteConfig(dir string, cfg any) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return files.WriteFile(filepath.Join(dir, ConfigFile), append(data, '\n'))
}

// Positive returns an error naming field in path when value is not positive.
func Positive(path string, fields map[string]int) error {
	for _, n := range slices.Sorted(maps.Keys(fields)) {
		if fields[n] <= 0 {
			return fmt.Errorf("%s: field %q must be positive, got %d", path, n, fields[n])
		}
	}
	return nil
}

// The largest sizes a config may give. No released model comes near them;
// a config beyond them is corrupt or forged, and building it would exhaust
// memory before any weight is read (10^9 layers make 10^10 weight specs).
const (
	// MaxLayers bounds num_hidden_layers / n_layer.
	MaxLayers = 1024
	// MaxSize bounds every other size: vocabulary, widths, heads, positions.
	MaxSize = 1 << 26
)

// Bounded returns an error naming the field of path whose value is not
// positive, or above MaxLayers (the fields in layers) or MaxSize (the
// others).
func Bounded(path string, sizes map[string]int, layers ...string) error {
	if err := Positive(path, sizes); err != nil {
		return err
	}
	for _, n := range slices.Sorted(maps.Keys(sizes)) {
		limit := MaxSize
		if slices.Contains(layers, n) {
			limit = MaxLayers
		}
		if sizes[n] > limit {
			return fmt.Errorf("%s: field %q is %d, more than the %d any model here can have", path, n, sizes[n], limit)
		}
	}
	return nil
}

// PositiveFinite returns an error naming the field of path whose value is
// NaN, infinite, zero or negative (an epsilon or a rotary base that would
// turn every output into NaN), or beyond float32's range, where the network
// computes (an epsilon of 1e300 is +Inf there).
func PositiveFinite(path string, fields map[string]float64) error {
	for _, n := range slices.Sorted(maps.Keys(fields)) {
		if v := fields[n]; !(v > 0) || v > math.MaxFloat32 {
			return fmt.Errorf("%s: field %q must be a positive number within float32's range, got %v", path, n, v)
		}
	}
	return nil
}

// DropoutRates returns an error naming the field of path whose value is not
// a dropout rate, in [0, 1).
func DropoutRates(path string, fields map[string]float64) error {
	for _, n := range slices.Sorted(maps.Keys(fields)) {
		if v := fields[n]; !(v >= 0 && v < 1) {
			return fmt.Errorf("%s: field %q is a dropout rate, which must be in [0, 1); got %v", path, n, v)
		}
	}
	return nil
}

// CheckLayers returns an error when a config's layer count cannot fit the
// checkpoint set: every layer has weights of its own, so a checkpoint with
// fewer tensors than layers is not this config's. It runs before the
// family lists its weights, whose number grows with the layers.
func CheckLayers(set *weights.Set, field string, layers int) error {
	if set != nil && layers > set.Len() {
		return fmt.Errorf("%s: the config's %q is %d, but the checkpoint holds only %d tensors", set.Source, field, layers, set.Len())
	}
	return nil
}

// checkUnused returns an error naming the tensors of set that specs do not
// declare (under their checkpoint names) and ignore does not accept.
// set.AllowUnused turns the check off.
func checkUnused(set *weights.Set, specs []Spec, checkpointName func(string) string, ignore func(name string) bool) error {
	if set.AllowUnused {
		return nil
	}
	used := make(map[string]bool, len(specs))
	for _, s := range specs {
		used[checkpointName(s.Name)] = true
	}
	var unused []string
	for _, n := range set.Names() {
		if !used[n] && (ignore == nil || !ignore(n)) {
			unused = append(unused, n)
		}
	}
	if len(unused) == 0 {
		return nil
	}
	shown := unused
	if len(shown) > 5 {
		shown = shown[:5]
	}
	return fmt.Errorf("%s: %d tensors the config does not use, among them %s (a config with fewer layers than the checkpoint? to load anyway, read the set and set its AllowUnused before building the model)",
		set.Source, len(unused), quoteAll(shown))
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// SaveModel writes a Hugging Face model folder: set as model.safetensors and
// config as config.json, each written atomically.
func SaveModel(dir string, set *weights.Set, config any) error {
	if err := weights.WriteSafetensors(filepath.Join(dir, weights.SafetensorsFile), set, nil); err != nil {
		return err
	}
	return WriteConfig(dir, config)
}

// CheckHeads returns an error naming the field of path when a decoder's
// attention heads do not fit: head_dim (headDim, 0 when the config leaves
// it to hidden_size / num_attention_heads) negative or above MaxSize,
// num_attention_heads not dividing hidden_size when head_dim is unset, or
// num_key_value_heads not dividing num_attention_heads.
func CheckHeads(path string, hidden, heads, kvHeads, headDim int) error {
	if headDim < 0 || headDim > MaxSize {
		return fmt.Errorf("%s: field \"head_dim\" must be positive (at most %d), got %d", path, MaxSize, headDim)
	}
	if headDim == 0 && hidden%heads != 0 {
		return fmt.Errorf("%s: field \"num_attention_heads\" (%d) does not divide \"hidden_size\" (%d)", path, heads, hidden)
	}
	if heads%kvHeads != 0 {
		return fmt.Errorf("%s: field \"num_key_value_heads\" (%d) does not divide \"num_attention_heads\" (%d)", path, kvHeads, heads)
	}
	return nil
}

// CheckActivation returns an error naming field of path when name is no
// activation Activation knows.
func CheckActivation(path, field, name string) error {
	if Activation(name) == nil {
		return fmt.Errorf("%s: field %q: unknown activation %q", path, field, name)
	}
	return nil
}
