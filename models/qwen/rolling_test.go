package qwen

import (
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
)

// TestRollingCache decodes Qwen2 with sliding layers past max_window_layers
// (windows 0, 3, 3) and Qwen3 with sliding and global layers interleaved
// (4, 0, 4) past 4× the window: the sliding layers keep window slots and
// the logits are the forward pass's (see decodetest.CheckRolling).
func TestRollingCache(t *testing.T) {
	for _, family := range []string{"qwen2_sliding", "qwen3_tied"} {
		t.Run(family, func(t *testing.T) { decodetest.CheckRolling(t, load(t, family).Decoder) })
	}
}
