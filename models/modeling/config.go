package modeling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trustformers/trustformers-go/models/weights"
)

// ConfigFile is the name of a model folder's configuration.
const ConfigFile = "config.json"

// ReadConfig decodes the config.json at path into cfg (a family's Config,
// whose fields mirror the file's). Each name in required must be present: a
// missing one is an error naming the file and the field.
func ReadConfig(path string, cfg any, required ...string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return DecodeConfig(path, data, cfg, required...)
}

// DecodeConfig is ReadConfig for bytes already read; path names them in errors.
func DecodeConfig(path string, data []byte, cfg any, required ...string) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
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
	return weights.WriteFileAtomic(filepath.Join(dir, ConfigFile), append(data, '\n'))
}

// Positive returns an error naming field in path when value is not positive.
func Positive(path string, fields map[string]int) error {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if fields[n] <= 0 {
			return fmt.Errorf("%s: field %q must be positive, got %d", path, n, fields[n])
		}
	}
	return nil
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
