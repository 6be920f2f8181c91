package training

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Checkpoint metadata keys written by SaveCheckpoint.
const (
	metaStep   = "trustformers.step"
	metaFormat = "trustformers.checkpoint"
	metaEarly  = "trustformers.early_stopping"
	metaRNG    = "trustformers.dropout_rng"
)

// SaveCheckpoint writes the model's weights, the optimizer's moments, the
// step count and, when t.EarlyStopping is set, its state to a safetensors
// file at path (to a temporary name, then renamed: a crash never leaves half
// a checkpoint). extra goes into the file's metadata (a training loop stores
// its data position and RNG state there, so that resuming continues
// exactly); keys starting with "trustformers." are reserved.
//
// Across processes (SetProcesses) only rank 0 writes, and the others
// return at once: every process holds the same state, and none waits for
// another here, so that a path or a condition that differs between ranks
// cannot make one wait for ever.
func (t *Trainer) SaveCheckpoint(path string, extra map[string]string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.procs != nil && t.procs.Rank() != 0 {
		return nil
	}
	return t.saveCheckpoint(path, extra)
}

// saveCheckpoint writes the checkpoint in this process. t.mu is held.
func (t *Trainer) saveCheckpoint(path string, extra map[string]string) error {
	set := weights.NewSet()
	for _, name := range t.Params.Names() {
		v, err := t.Params.Variable(name).Value()
		if err != nil {
			return fmt.Errorf("checkpoint: weight %q: %w", name, err)
		}
		set.Add(name, v, "")
	}
	for name, vars := range t.state {
		for _, sv := range vars {
			v, err := sv.v.Value()
			if err != nil {
				return fmt.Errorf("checkpoint: optimizer state of %q: %w", name, err)
			}
			set.Add(optimizerPrefix+"."+sv.kind+"."+name, v, "")
		}
	}
	meta := map[string]string{metaFormat: "1", metaStep: strconv.Itoa(t.step)}
	if t.EarlyStopping != nil {
		state, _ := t.EarlyStopping.MarshalText()
		meta[metaEarly] = string(state)
	}
	scale, err := t.lossScaleState()
	if err != nil {
		return fmt.Errorf("checkpoint: loss scale: %w", err)
	}
	if scale != "" {
		meta[metaLossScale] = scale
	}
	rng, err := t.Params.DropoutState()
	if err != nil {
		return fmt.Errorf("checkpoint: dropout stream: %w", err)
	}
	if rng != nil {
		meta[metaRNG] = fmt.Sprint(rng)
	}
	for k, v := range extra {
		if strings.HasPrefix(k, "trustformers.") {
			return fmt.Errorf("checkpoint: metadata key %q is reserved", k)
		}
		meta[k] = v
	}
	return weights.WriteSafetensors(path, set, meta)
}

// LoadCheckpoint restores weights, optimizer moments and the step count
// written by SaveCheckpoint, and returns the file's extra metadata. Every
// weight and moment must be present with its shape. When t.EarlyStopping is
// set, its state is restored too (its Patience and MinDelta stay as set); a
// checkpoint saved without one leaves it with nothing observed.
func (t *Trainer) LoadCheckpoint(path string) (map[string]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set, meta, err := weights.ReadSafetensorsWithMetadata(path)
	if err != nil {
		return nil, err
	}
	state, err := readCheckpointMeta(path, meta)
	if err != nil {
		return nil, err
	}
	if err := t.restoreTensors(set); err != nil {
		return nil, err
	}
	if s := t.Params.Sharding(); s != nil {
		// The values restored are whole, on the host: lay them out again.
		if err := t.Params.Shard(s); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := t.restoreLossScale(meta[metaLossScale]); err != nil {
		return nil, fmt.Errorf("%s: metadata %q: %w", path, metaLossScale, err)
	}
	if state.rng != nil {
		if err := t.Params.SetDropoutState(state.rng); err != nil {
			return nil, fmt.Errorf("%s: metadata %q: %w", path, metaRNG, err)
		}
	}
	t.step = state.step
	if t.EarlyStopping != nil {
		t.EarlyStopping.best, t.EarlyStopping.seen, t.EarlyStopping.bad = state.early.best, state.early.seen, state.early.bad
	}
	extra := map[string]string{}
	for k, v := range meta {
		if !strings.HasPrefix(k, "trustformers.") && k != "format" {
			extra[k] = v
		}
	}
	return extra, nil
}

// checkpointMeta is the training state a checkpoint's metadata holds.
type checkpointMeta struct {
	step  int
	rng   []uint64 // dropout's stream; nil when the checkpoint has none
	early EarlyStopping
}

// readCheckpointMeta reads and checks the training state in the metadata
// of the checkpoint at path.
func readCheckpointMeta(path string, meta map[string]string) (checkpointMeta, error) {
	var c checkpointMeta
	if meta[metaFormat] == "" {
		return c, fmt.Errorf("%s: not a training checkpoint (metadata %q missing)", path, metaFormat)
	}
	step, err := strconv.Atoi(meta[metaStep])
	if err != nil {
		return c, fmt.Errorf("%s: metadata %q: %w", path, metaStep, err)
	}
	if step < 0 {
		return c, fmt.Errorf("%s: metadata %q: step %d is negative", path, metaStep, step)
	}
	c.step = step
	if state, ok := meta[metaRNG]; ok {
		for _, f := range strings.Fields(strings.Trim(state, "[]")) {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return c, fmt.Errorf("%s: metadata %q: %w", path, metaRNG, err)
			}
			c.rng = append(c.rng, v)
		}
	}
	if state, ok := meta[metaEarly]; ok {
		if err := c.early.UnmarshalText([]byte(state)); err != nil {
			return c, fmt.Errorf("%s: metadata %q: %w", path, metaEarly, err)
		}
	}
	return c, nil
}

// restoreTensors sets the weights and the optimizer's state from set.
func (t *Trainer) restoreTensors(set *weights.Set) error {
	restore := func(name string, dst interface {
		SetValue(*tensors.Tensor) error
	}, dims []int) error {
		v, err := set.Float32(name, dims...)
		if err != nil {
			return err
		}
		return dst.SetValue(v)
	}
	for _, name := range t.Params.Names() {
		if strings.HasPrefix(name, optimizerPrefix+".") {
			continue
		}
		if err := restore(name, t.Params.Variable(name), t.Params.Variable(name).Shape().Dimensions); err != nil {
			return err
		}
	}
	for name, vars := range t.state {
		for _, sv := range vars {
			if err := restore(optimizerPrefix+"."+sv.kind+"."+name, sv.v, sv.v.Shape().Dimensions); err != nil {
				return err
			}
		}
	}
	return nil
}
