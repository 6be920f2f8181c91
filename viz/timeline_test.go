package viz

import (
	"strings"
	"testing"
)

// TestTimelineOptions checks a two-stage schedule as a Gantt chart: lanes
// on a category axis with the first on top, blank gaps before each pass,
// passes coloured by kind and labelled, one legend entry per kind; and the
// errors for a span outside the lanes and for overlapping spans.
func TestTimelineOptions(t *testing.T) {
	spans := []Span{
		{Lane: 0, Start: 0, End: 2, Kind: 0, Label: "0"},
		{Lane: 1, Start: 2, End: 4, Kind: 0, Label: "0"},
		{Lane: 1, Start: 4, End: 8, Kind: 1, Label: "0"},
		{Lane: 0, Start: 8, End: 10, Kind: 1, Label: "0"},
	}
	c := must(Timeline([]string{"stage 0", "stage 1"}, []string{"forward", "backward"}, spans, "1f1b", "ms"))
	o := decode(t, c)
	if o.YAxis[0].Type != "category" || o.XAxis[0].Type != "value" || o.XAxis[0].Name != "ms" {
		t.Errorf("axes x %+v, y %+v: want time on x (ms), stages on y", o.XAxis[0], o.YAxis[0])
	}
	got := names(o.Series)
	if want := "forward|backward|segment 0|segment 1|segment 2|segment 3"; strings.Join(got, "|") != want {
		t.Fatalf("series %q, want %q", got, want)
	}
	// Stage 0: idle 0, forward 2, idle 6, backward 2. Stage 1: idle 2, forward 2, idle 0, backward 4.
	want := [][]float64{{0, 2, 6, 2}, {2, 2, 0, 4}}
	for seg := range 4 {
		for lane := range 2 {
			d := o.Series[2+seg].Data[lane]
			v := 0.0
			if len(d.Value) > 0 {
				v = d.number(t)
			}
			if v != want[lane][seg] {
				t.Errorf("lane %d, segment %d = %v, want %v", lane, seg, v, want[lane][seg])
			}
		}
	}
	raw := c.RenderSnippet().Option
	for _, s := range []string{`"transparent"`, `"stack":"time"`, `"inverse":true`, "backward 0: 4 to 8 ms"} {
		if !strings.Contains(raw, s) {
			t.Errorf("option lacks %s", s)
		}
	}
	if _, err := Timeline([]string{"stage 0"}, []string{"forward"}, []Span{{Lane: 1, End: 1}}, "", ""); err == nil {
		t.Error("a span on a lane that does not exist: no error")
	}
	overlap := []Span{{Lane: 0, Start: 0, End: 2}, {Lane: 0, Start: 1, End: 3}}
	if _, err := Timeline([]string{"stage 0"}, []string{"forward"}, overlap, "", ""); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("overlapping spans: error %v", err)
	}
}
