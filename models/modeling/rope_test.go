package modeling

import (
	"math"
	"strings"
	"testing"
)

// TestRotaryInvFreqRejects gives rotary settings that would turn every
// rotated query and key into NaN, or stop rotating them: each is an error.
func TestRotaryInvFreqRejects(t *testing.T) {
	llama3 := func(factor, low, high float64) *RopeScaling {
		return &RopeScaling{RopeType: "llama3", Factor: factor, LowFreqFactor: low, HighFreqFactor: high, OriginalMaxPositionEmbeddings: 8192}
	}
	for _, tc := range []struct {
		name    string
		theta   float64
		scaling *RopeScaling
		want    string
	}{
		{"linear NaN factor", 10000, &RopeScaling{RopeType: "linear", Factor: math.NaN()}, `"factor" must be positive, got NaN`},
		{"linear infinite factor", 10000, &RopeScaling{RopeType: "linear", Factor: math.Inf(1)}, `"factor" must be positive, got +Inf`},
		{"linear denormal factor", 10000, &RopeScaling{RopeType: "linear", Factor: 1e-320}, "outside float32"},
		{"llama3 NaN factor", 500000, llama3(math.NaN(), 1, 4), "llama3 needs positive"},
		{"llama3 NaN low_freq_factor", 500000, llama3(8, math.NaN(), 4), "llama3 needs positive"},
		{"llama3 infinite high_freq_factor", 500000, llama3(8, 1, math.Inf(1)), "llama3 needs positive"},
		{"tiny theta", 1e-300, nil, "outside float32"},
	} {
		if _, err := RotaryInvFreq(64, tc.theta, tc.scaling); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want one saying %s", tc.name, err, tc.want)
		}
	}
	if _, err := RotaryInvFreq(64, 10000, &RopeScaling{RopeType: "linear", Factor: 2}); err != nil {
		t.Errorf("linear factor 2: %v", err)
	}
}
