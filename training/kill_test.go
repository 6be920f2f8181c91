package training

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/xla"
)

// bigTrainer has ~16 MB of weights, so that writing a checkpoint takes long
// enough to be killed in the middle.
func bigTrainer(t testing.TB) *Trainer {
	backend, err := xla.New("go")
	if err != nil {
		t.Fatal(err)
	}
	params := modeling.NewParams()
	data := make([]float32, 2048*1024)
	for i := range data {
		data[i] = float32(i % 97)
	}
	params.Set("w", tensors.FromFlatDataAndDimensions(data, 2048, 1024))
	tr, err := NewTrainer(params, backend, nil, DefaultAdamW(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestKilledCheckpointWriteLeavesThePreviousOne kills (SIGKILL) a process
// that is rewriting a checkpoint over and over, and checks that the
// checkpoint file still loads: it is always a complete file, the previous
// one or the new one, never half of one.
func TestKilledCheckpointWriteLeavesThePreviousOne(t *testing.T) {
	if path := os.Getenv("TRAINING_CHECKPOINT_WRITER"); path != "" {
		tr := bigTrainer(t)
		for i := 0; ; i++ {
			if err := tr.SaveCheckpoint(path, map[string]string{"round": string(rune('a' + i%26))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	tr := bigTrainer(t)
	if err := tr.SaveCheckpoint(path, nil); err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{150 * time.Millisecond, 400 * time.Millisecond, 900 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestKilledCheckpointWriteLeavesThePreviousOne$")
		cmd.Env = append(os.Environ(), "TRAINING_CHECKPOINT_WRITER="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if _, err := bigTrainer(t).LoadCheckpoint(path); err != nil {
			t.Fatalf("after killing the writer at %v, the checkpoint does not load: %v", delay, err)
		}
	}
}
