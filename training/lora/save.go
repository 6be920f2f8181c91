package lora

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/weights"
)

// PEFT's file names in an adapter folder.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// peftPrefix starts every tensor name PEFT saves (PeftModel.base_model.model).
const peftPrefix = "base_model.model."

// layout is how a family's Params names and weights relate to the Hugging
// Face model PEFT wraps.
type layout struct {
	// prefix turns a Params module name into the name inside the Hugging
	// Face *LMHeadModel ("transformer." for GPT-2, whose Params use
	// GPT2Model's names).
	prefix string
	// fanInFanOut is PEFT's flag for Conv1D layers (GPT-2), whose checkpoint
	// weights are [in, out].
	fanInFanOut bool
}

// layoutOf reads how params relate to the Hugging Face model PEFT wraps
// from what the family declared: the prefix of its language-model class
// (Params.ModelPrefix), and Conv1D layers from the weights it keeps
// transposed (Params.Transposed). A family's linear layers are all Conv1D
// or none (GPT-2's are); any transposed weight says so even when the
// adapted ones were quantized, which drops their float weights.
func layoutOf(p *modeling.Params) layout {
	l := layout{prefix: p.ModelPrefix()}
	for _, name := range p.Names() {
		if p.Transposed(name) {
			l.fanInFanOut = true
			break
		}
	}
	return l
}

// peftConfig is adapter_config.json, with PEFT's LoraConfig field names.
type peftConfig struct {
	PeftType        string   `json:"peft_type"`
	TaskType        *string  `json:"task_type"`
	BaseModel       string   `json:"base_model_name_or_path"`
	R               int      `json:"r"`
	LoraAlpha       float64  `json:"lora_alpha"`
	LoraDropout     float64  `json:"lora_dropout"`
	TargetModules   any      `json:"target_modules"`
	FanInFanOut     bool     `json:"fan_in_fan_out"`
	Bias            string   `json:"bias"`
	InitLoraWeights bool     `json:"init_lora_weights"`
	InferenceMode   bool     `json:"inference_mode"`
	UseRSLoRA       bool     `json:"use_rslora"`
	UseDoRA         bool     `json:"use_dora"`
	ModulesToSave   []string `json:"modules_to_save"`
}

// Save writes the adapters alone to dir, as PEFT's save_pretrained does:
// adapter_model.safetensors holding base_model.model.<module>.lora_A.weight
// [r, in] and .lora_B.weight [out, r] for every adapted module (GPT-2's
// modules under "transformer.", as in GPT2LMHeadModel), and
// adapter_config.json. Both files are written to temporary names and renamed.
func (a *Adapters) Save(dir string) error {
	if a.merged {
		return fmt.Errorf("lora: saving %s: the adapters are merged into the base weights", dir)
	}
	set := weights.NewSet()
	for _, module := range a.modules {
		for _, suffix := range []string{suffixA, suffixB} {
			t, err := a.params.Variable(module + suffix).Value()
			if err != nil {
				return fmt.Errorf("lora: weight %q: %w", module+suffix, err)
			}
			set.Add(peftPrefix+a.layout.prefix+module+suffix, t, "")
		}
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, WeightsFile), set, nil); err != nil {
		return err
	}
	causal := "CAUSAL_LM"
	targets := append([]string(nil), a.Config.Targets...)
	sort.Strings(targets)
	alpha := a.Config.Alpha
	if alpha == 0 {
		alpha = float64(a.Config.Rank)
	}
	cfg := peftConfig{PeftType: "LORA", TaskType: &causal, BaseModel: a.Config.BaseModel, R: a.Config.Rank,
		LoraAlpha: alpha, LoraDropout: a.Config.Dropout, TargetModules: targets, FanInFanOut: a.layout.fanInFanOut,
		Bias: "none", InitLoraWeights: true, InferenceMode: true}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return files.WriteFile(filepath.Join(dir, ConfigFile), append(data, '\n'))
}

// ReadConfig reads the Config of the adapter folder dir (adapter_config.json).
// Adapters other than plain LoRA (DoRA, rsLoRA, bias training, extra trained
// modules, regular-expression targets) are errors naming the field.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := files.ReadFile(path, files.ConfigLimit)
	if err != nil {
		return Config{}, err
	}
	var pc peftConfig
	if err := json.Unmarshal(data, &pc); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	var unsupported []string
	if pc.PeftType != "LORA" {
		unsupported = append(unsupported, fmt.Sprintf("peft_type %q (want \"LORA\")", pc.PeftType))
	}
	if pc.UseDoRA {
		unsupported = append(unsupported, "use_dora")
	}
	if pc.UseRSLoRA {
		unsupported = append(unsupported, "use_rslora")
	}
	if pc.Bias != "" && pc.Bias != "none" {
		unsupported = append(unsupported, fmt.Sprintf("bias %q", pc.Bias))
	}
	if len(pc.ModulesToSave) > 0 {
		unsupported = append(unsupported, fmt.Sprintf("modules_to_save %q", pc.ModulesToSave))
	}
	var targets []string
	switch t := pc.TargetModules.(type) {
	case []any:
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return Config{}, fmt.Errorf("%s: target_modules holds %v, not a string", path, x)
			}
			targets = append(targets, s)
		}
	case string:
		unsupported = append(unsupported, fmt.Sprintf("target_modules as a regular expression (%q)", t))
	default:
		return Config{}, fmt.Errorf("%s: target_modules missing or not a list", path)
	}
	if len(unsupported) > 0 {
		return Config{}, fmt.Errorf("%s: unsupported: %s", path, strings.Join(unsupported, ", "))
	}
	cfg := Config{Rank: pc.R, Alpha: pc.LoraAlpha, Dropout: pc.LoraDropout, Targets: targets, BaseModel: pc.BaseModel}
	if err := cfg.check(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Load reads the adapter folder dir (written by Save, or by PEFT for a model
// of the same shape) and applies it to params: Apply with its config, then
// A and B from adapter_model.safetensors. Every adapted module's tensors must
// be there with their shapes, and every tensor of the file must belong to an
// adapted module. Load before the model's first Forward or Step.
func Load(params *modeling.Params, dir string) (*Adapters, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.ReadSafetensors(filepath.Join(dir, WeightsFile))
	if err != nil {
		return nil, err
	}
	modules, err := targetModules(params, cfg.Targets)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	// Check every tensor before touching params.
	prefix := params.ModelPrefix()
	values := map[string]*tensors.Tensor{}
	used := map[string]bool{}
	names := map[string]string{} // adapter weight in Params -> name in the file
	for _, module := range modules {
		dims := params.Dims(module + ".weight") // quantized weights store packed codes
		for _, s := range []struct {
			suffix string
			dims   []int
		}{{suffixA, []int{cfg.Rank, dims[1]}}, {suffixB, []int{dims[0], cfg.Rank}}} {
			name := peftPrefix + prefix + module + s.suffix
			if !set.Has(name) && prefix != "" {
				name = peftPrefix + module + s.suffix // a base model saved without the LM head's prefix
			}
			t, err := set.Float32(name, s.dims...)
			if err != nil {
				return nil, err
			}
			values[module+s.suffix], names[module+s.suffix] = t, name
			used[name] = true
		}
		if err := checkUpdate(params, set, module, names, values, cfg); err != nil {
			return nil, err
		}
	}
	var extra []string
	for _, name := range set.Names() {
		if !used[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		return nil, fmt.Errorf("%s: tensors %q match no adapted module of the model (targets %q)",
			filepath.Join(dir, WeightsFile), extra, cfg.Targets)
	}
	a, err := Apply(params, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	for name, t := range values {
		if err := params.Set(name, t); err != nil {
			return nil, err
		}
	}
	return a, nil
}
