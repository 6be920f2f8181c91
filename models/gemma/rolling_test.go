package gemma

import (
	"path/filepath"
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
	"github.com/trustformers/trustformers-go/internal/golden"
)

// TestRollingCache decodes Gemma 3 (window 4, every third layer global) and
// Gemma 2 (window 4, alternating, soft-capped scores) past 4× the window:
// the local layers keep 4 slots, the global ones the whole sequence, and the
// logits are the forward pass's (see decodetest.CheckRolling).
func TestRollingCache(t *testing.T) {
	for _, family := range []string{"gemma3", "gemma2"} {
		t.Run(family, func(t *testing.T) {
			m, err := Load(filepath.Join(golden.Dir(family), "model"), golden.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			decodetest.CheckRolling(t, m.Decoder)
		})
	}
}
