package llama

import (
	"testing"

	"github.com/trustformers/trustformers-go/internal/decodetest"
)

// TestRollingCacheMistral decodes Mistral (window 3) past 4× its window
// through a cache of 3 slots a layer and checks the forward pass's logits
// (see decodetest.CheckRolling).
func TestRollingCacheMistral(t *testing.T) {
	decodetest.CheckRolling(t, load(t, "mistral", "model").Decoder)
}
