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
	if len(weights) == 0 || len(devices) == 0 || len(share) != len(weights) {
		return nil, fmt.Errorf("viz.Placement: %d weights, %d devices and %d rows of shares", len(weights), len(devices), len(share))
	}
	cells := make([]opts.HeatMapData, 0, len(weights)*len(devices))
	for w, row := range share {
		if len(row) != len(devices) {
			return nil, fmt.Errorf("viz.Placement: weight %q has %d shares for %d devices", weights[w], len(row), len(devices))
		}
		for d, v := range row {
			cell := opts.HeatMapData{Value: [3]any{d, w, round(v)}}
			if slices != nil {
				cell.Name = slices[w][d]
			}
			cells = append(cells, cell)
		}
	}
	rowHeight := 18
	labelWidth := 14 + 7*longest(weights)
	width := min(max(len(devices)*70, 240), 560)
	height := max(len(weights)*rowHeight, 120)
	hm := charts.NewHeatMap()
	tooltip := opts.Tooltip{Trigger: "item", Formatter: "{b}"}
	if slices == nil {
		tooltip.Formatter = ""
	}
	hm.SetGlobalOptions(append(common(labelWidth+width+160, 90+height+40, orDefault(title, "placement"),
		"share of each weight on each device", tooltip),
		charts.WithGridOpts(opts.Grid{Left: strconv.Itoa(labelWidth + 10), Top: "80", Width: strconv.Itoa(width), Height: strconv.Itoa(height)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: devices, Position: "top"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: weights, Inverse: opts.Bool(true), AxisLabel: &opts.AxisLabel{Interval: "0"}}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: 0, Max: 1, Right: "10", Top: "middle",
			InRange: attentionColours}),
	)...)
	hm.AddSeries("share", cells, charts.WithLabelOpts(opts.Label{Show: opts.Bool(len(devices) <= 8), Formatter: "{@[2]}"}))
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
