package modeling

import (
	"slices"
	"testing"
)

// TestRingSlots checks which slot each index of a ring holds after some
// slots were written (slot s at s mod n; -1: none yet).
func TestRingSlots(t *testing.T) {
	for _, tc := range []struct {
		written, n int
		want       []int32
	}{
		{0, 3, []int32{-1, -1, -1}},
		{2, 3, []int32{0, 1, -1}},
		{3, 3, []int32{0, 1, 2}},
		{4, 3, []int32{3, 1, 2}},
		{8, 3, []int32{6, 7, 5}},
		{5, 8, []int32{0, 1, 2, 3, 4, -1, -1, -1}}, // a whole cache: slot s at s
	} {
		if got := ringSlots(tc.written, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("ringSlots(%d, %d) = %v, want %v", tc.written, tc.n, got, tc.want)
		}
	}
}
