package models

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// A Family is one model architecture as Load knows it: the config.json
// model_type values it reads and how to build a model from a folder's
// config. The built-in families (gpt2, bert, llama with mistral) are
// registered by this package; Register adds one from outside it.
type Family struct {
	// ModelTypes are the config.json model_type values the family reads.
	ModelTypes []string
	// New builds the model that dir/config.json describes from the
	// checkpoint tensors in set. Load calls it with dir's own weights.
	New func(dir string, set *weights.Set, backend compute.Backend) (Model, error)
	// Random builds the model that dir/config.json describes with freshly
	// initialized weights drawn from seed, for training from scratch (nil:
	// the family has no initializer).
	Random func(dir string, seed uint64, backend compute.Backend) (Model, error)
	// GGUF are the llama.cpp general.architecture values of the GGUF files
	// LoadGGUF reads (none: the family reads no GGUF files).
	GGUF []string
	// LoadGGUF builds the model a GGUF file holds.
	// opts are the caller's load options (LoadWith).
	LoadGGUF func(path string, backend compute.Backend, opts modeling.LoadOptions) (Model, error)
}

var registry = struct {
	sync.RWMutex
	byType map[string]Family
	byArch map[string]Family
}{byType: map[string]Family{}, byArch: map[string]Family{}}

// Register makes Load, FromWeights and NewRandom read folders whose
// config.json model_type is one of f.ModelTypes. A model type registered
// twice is an error.
func Register(f Family) error {
	if len(f.ModelTypes) == 0 || f.New == nil || (len(f.GGUF) > 0) != (f.LoadGGUF != nil) {
		return fmt.Errorf("models.Register: a family needs ModelTypes and New, and LoadGGUF with GGUF")
	}
	registry.Lock()
	defer registry.Unlock()
	for _, t := range f.ModelTypes {
		if _, ok := registry.byType[t]; ok {
			return fmt.Errorf("models.Register: model_type %q is already registered", t)
		}
	}
	for _, a := range f.GGUF {
		if _, ok := registry.byArch[a]; ok {
			return fmt.Errorf("models.Register: GGUF architecture %q is already registered", a)
		}
	}
	for _, t := range f.ModelTypes {
		registry.byType[t] = f
	}
	for _, a := range f.GGUF {
		registry.byArch[a] = f
	}
	return nil
}

// Supported returns the model_type values Load accepts, sorted.
func Supported() []string {
	registry.RLock()
	defer registry.RUnlock()
	types := make([]string, 0, len(registry.byType))
	for t := range registry.byType {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// SupportedGGUF returns the GGUF general.architecture values Load accepts,
// sorted.
func SupportedGGUF() []string {
	registry.RLock()
	defer registry.RUnlock()
	archs := make([]string, 0, len(registry.byArch))
	for a := range registry.byArch {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	return archs
}

// loadGGUF loads the GGUF file path with the family registered for its
// general.architecture.
func loadGGUF(path string, backend compute.Backend, opts modeling.LoadOptions) (Model, error) {
	info, err := weights.ReadGGUFInfo(path)
	if err != nil {
		return nil, err
	}
	arch, err := info.MetaString("general.architecture")
	if err != nil {
		return nil, err
	}
	registry.RLock()
	f, ok := registry.byArch[arch]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: general.architecture %q is not supported (supported: %s)", path, arch, strings.Join(SupportedGGUF(), ", "))
	}
	return f.LoadGGUF(path, backend, opts)
}

// familyOf returns the family registered for dir's config.json model_type.
func familyOf(dir string) (Family, error) {
	modelType, err := modeling.ModelType(dir)
	if err != nil {
		return Family{}, err
	}
	registry.RLock()
	f, ok := registry.byType[modelType]
	registry.RUnlock()
	if !ok {
		return Family{}, fmt.Errorf("%s: model_type %q is not supported (supported: %s)",
			filepath.Join(dir, modeling.ConfigFile), modelType, strings.Join(Supported(), ", "))
	}
	return f, nil
}

// fromConfig adapts a family package's constructor, which takes its own
// config type, to Family.New. The nil check keeps a failed build from
// becoming a non-nil Model holding a nil pointer.
func fromConfig[C any, M Model](read func(dir string) (C, error), build func(C, *weights.Set, compute.Backend) (M, error)) func(string, *weights.Set, compute.Backend) (Model, error) {
	return func(dir string, set *weights.Set, backend compute.Backend) (Model, error) {
		cfg, err := read(dir)
		if err != nil {
			return nil, err
		}
		m, err := build(cfg, set, backend)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

// fromGGUF adapts a family package's GGUF loader to Family.LoadGGUF.
func fromGGUF[M Model](load func(string, compute.Backend, ...modeling.LoadOptions) (M, error)) func(string, compute.Backend, modeling.LoadOptions) (Model, error) {
	return func(path string, backend compute.Backend, opts modeling.LoadOptions) (Model, error) {
		m, err := load(path, backend, opts)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

// randomFromConfig adapts a family's random initializer to Family.Random.
func randomFromConfig[C any, M Model](read func(dir string) (C, error), build func(C, uint64, compute.Backend) (M, error)) func(string, uint64, compute.Backend) (Model, error) {
	return func(dir string, seed uint64, backend compute.Backend) (Model, error) {
		cfg, err := read(dir)
		if err != nil {
			return nil, err
		}
		m, err := build(cfg, seed, backend)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}
