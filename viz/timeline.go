package viz

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Span is one bar of a Timeline: on lane Lane (a pipeline stage), from
// Start to End (in the chart's unit), of kind Kind (an index into the
// chart's kinds, which colours it: forward, backward), written Label on
// the bar (the micro-batch).
type Span struct {
	Lane       int
	Start, End float64
	Kind       int
	Label      string
}

// Timeline draws spans on horizontal lanes over time, a Gantt chart: a
// row per lane (the first on top), each span a bar from its start to its
// end coloured by its kind, with a legend of the kinds; the time between
// spans is left blank. A pipeline's schedule is one: a lane per stage, a
// span per forward or backward pass of a micro-batch. Spans of one lane
// may not overlap.
func Timeline(lanes, kinds []string, spans []Span, title, unit string) (*charts.Bar, error) {
	if len(lanes) == 0 || len(kinds) == 0 {
		return nil, fmt.Errorf("viz.Timeline: %d lanes and %d kinds", len(lanes), len(kinds))
	}
	byLane := make([][]Span, len(lanes))
	for i, s := range spans {
		if s.Lane < 0 || s.Lane >= len(lanes) || s.Kind < 0 || s.Kind >= len(kinds) || !(s.Start >= 0 && s.End >= s.Start) {
			return nil, fmt.Errorf("viz.Timeline: span %d (lane %d, kind %d, %g to %g) is outside the %d lanes and %d kinds, or ends before it starts",
				i, s.Lane, s.Kind, s.Start, s.End, len(lanes), len(kinds))
		}
		byLane[s.Lane] = append(byLane[s.Lane], s)
	}
	segments := make([][]opts.BarData, len(lanes))
	for lane, ss := range byLane {
		slices.SortFunc(ss, func(a, b Span) int { return cmpFloat(a.Start, b.Start) })
		at := 0.0
		for _, s := range ss {
			if s.Start < at {
				return nil, fmt.Errorf("viz.Timeline: lane %q: a span starting at %g overlaps the one before, which ends at %g", lanes[lane], s.Start, at)
			}
			gap := opts.BarData{Value: round(s.Start - at), ItemStyle: &opts.ItemStyle{Color: "transparent"}, Tooltip: &opts.Tooltip{Show: opts.Bool(false)}}
			bar := opts.BarData{Name: fmt.Sprintf("%s %s: %g to %g %s", kinds[s.Kind], s.Label, round(s.Start), round(s.End), unit),
				Value: round(s.End - s.Start), ItemStyle: &opts.ItemStyle{Color: colour(s.Kind)},
				Label: &opts.Label{Show: opts.Bool(s.Label != ""), Formatter: s.Label, Position: "inside", FontSize: 10}}
			segments[lane] = append(segments[lane], gap, bar)
			at = s.End
		}
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(append(common(760, 120+48*len(lanes), orDefault(title, "timeline"), "", opts.Tooltip{Trigger: "item", Formatter: "{b}"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "40", Data: kinds}),
		charts.WithGridOpts(opts.Grid{Left: strconv.Itoa(20 + 7*longest(lanes)), Right: "40", Top: "80", Bottom: "40"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: unit}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: lanes, Inverse: opts.Bool(true)}),
	)...)
	for k, kind := range kinds { // legend entries; the bars are in the segment series
		bar.AddSeries(kind, nil, charts.WithItemStyleOpts(opts.ItemStyle{Color: colour(k)}), charts.WithBarChartOpts(opts.BarChart{Stack: "time"}))
	}
	longestLane := 0
	for _, s := range segments {
		longestLane = max(longestLane, len(s))
	}
	for j := range longestLane {
		data := make([]opts.BarData, len(lanes))
		for lane, s := range segments {
			if j < len(s) {
				data[lane] = s[j]
			}
		}
		bar.AddSeries(fmt.Sprintf("segment %d", j), data, charts.WithBarChartOpts(opts.BarChart{Stack: "time", BarWidth: "60%"}))
	}
	bar.Accept(fixups{})
	return bar, nil
}

// cmpFloat orders a before b.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
