package viz

import (
	"fmt"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Placement draws which share of each weight every device of a mesh holds:
// a row per weight, a column per device, cell [w][d] the fraction of weight
// w's elements on device d (1: all of it, 0.25: a quarter). slices, when not
// nil, is the tooltip of each cell (which rows and columns are there).
func Placement(weights, devices []string, share [][]float64, slices [][]string, title string) (*charts.HeatMap, error) {
	return shareGrid(gridSpec{name: "viz.Placement", rows: weights, cols: devices, rowNoun: "weight", colNoun: "device",
		title: orDefault(title, "placement"), subtitle: "share of each weight on each device", series: "share"}, share, slices)
}

// gridSpec names a shareGrid's rows and columns and titles it.
type gridSpec struct {
	name, rowNoun, colNoun  string
	rows, cols              []string
	title, subtitle, series string
	// cellText writes each cell's tooltip text in the cell, in place of
	// its value.
	cellText bool
}

// shareGrid draws values in [0, 1] as a heatmap with a row per spec.rows
// and a column per spec.cols (labels on top), each cell's value written in
// it when there are few columns; tips, when not nil, are the cells'
// tooltips.
func shareGrid(spec gridSpec, values [][]float64, tips [][]string) (*charts.HeatMap, error) {
	if len(spec.rows) == 0 || len(spec.cols) == 0 || len(values) != len(spec.rows) {
		return nil, fmt.Errorf("%s: %d %ss, %d %ss and %d rows of values", spec.name, len(spec.rows), spec.rowNoun, len(spec.cols), spec.colNoun, len(values))
	}
	cells := make([]opts.HeatMapData, 0, len(spec.rows)*len(spec.cols))
	for r, row := range values {
		if len(row) != len(spec.cols) {
			return nil, fmt.Errorf("%s: %s %q has %d values for %d %ss", spec.name, spec.rowNoun, spec.rows[r], len(row), len(spec.cols), spec.colNoun)
		}
		for c, v := range row {
			cell := opts.HeatMapData{Value: [3]any{c, r, round(v)}}
			if tips != nil {
				cell.Name = tips[r][c]
			}
			cells = append(cells, cell)
		}
	}
	rowHeight := 18
	labelWidth := 14 + 7*longest(spec.rows)
	width := min(max(len(spec.cols)*70, 240), 560)
	height := max(len(spec.rows)*rowHeight, 120)
	hm := charts.NewHeatMap()
	tooltip := opts.Tooltip{Trigger: "item", Formatter: "{b}"}
	if tips == nil {
		tooltip.Formatter = ""
	}
	hm.SetGlobalOptions(append(common(labelWidth+width+160, 90+height+40, spec.title, spec.subtitle, tooltip),
		charts.WithGridOpts(opts.Grid{Left: strconv.Itoa(labelWidth + 10), Top: "80", Width: strconv.Itoa(width), Height: strconv.Itoa(height)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: spec.cols, Position: "top"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: spec.rows, Inverse: opts.Bool(true), AxisLabel: &opts.AxisLabel{Interval: "0"}}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: 0, Max: 1, Right: "10", Top: "middle",
			InRange: attentionColours}),
	)...)
	label := opts.Label{Show: opts.Bool(len(spec.cols) <= 8), Formatter: "{@[2]}"}
	if spec.cellText {
		label = opts.Label{Show: opts.Bool(len(spec.cols) <= 16), Formatter: "{b}", FontSize: 10}
	}
	hm.AddSeries(spec.series, cells, charts.WithLabelOpts(label))
	hm.Accept(fixups{})
	return hm, nil
}

// BarSeries is one named set of values of a GroupedBars chart, one per
// category.
type BarSeries struct {
	Name   string
	Values []float64
}

// GroupedBars draws, for each category (a device), one bar per series (a
// strategy) side by side, with a legend: the bytes each device holds under
// data parallelism, full sharding and tensor parallelism, say. unit names
// the values' axis.
func GroupedBars(categories []string, series []BarSeries, title, unit string) (*charts.Bar, error) {
	if len(categories) == 0 || len(series) == 0 {
		return nil, fmt.Errorf("viz.GroupedBars: %d categories, %d series", len(categories), len(series))
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(append(common(max(420, 120*len(categories)+160), 420, orDefault(title, "bars"), "", opts.Tooltip{Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "40"}),
		charts.WithGridOpts(opts.Grid{Left: "80", Right: "30", Top: "90", Bottom: "40"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: unit}),
	)...)
	bar.SetXAxis(categories)
	for i, s := range series {
		if len(s.Values) != len(categories) {
			return nil, fmt.Errorf("viz.GroupedBars: series %q has %d values for %d categories", s.Name, len(s.Values), len(categories))
		}
		data := make([]opts.BarData, len(s.Values))
		for j, v := range s.Values {
			data[j] = opts.BarData{Value: round(v)}
		}
		bar.AddSeries(s.Name, data, charts.WithItemStyleOpts(opts.ItemStyle{Color: colour(i)}))
	}
	return bar, nil
}
