package viz

import (
	"fmt"
	"math"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// attentionColours run from white (no attention) to dark blue (all of it).
var attentionColours = &opts.VisualMapInRange{Color: []string{"#f7fbff", "#6baed6", "#08306b"}}

// Attention draws one head's attention as a heatmap: weights[q][k] is how
// much query token q (a row, first at the top) attends to key token k (a
// column). labels name the tokens; nil numbers them.
func Attention(weights [][]float32, labels []string, title string) (*charts.HeatMap, error) {
	labels, err := tokenLabels(weights, labels)
	if err != nil {
		return nil, fmt.Errorf("viz.Attention: %w", err)
	}
	return squareHeatmap(weights, labels, orDefault(title, "attention"), "attention", "key", "query", 0, 1, nil), nil
}

// Similarity draws a square matrix of similarities as a heatmap — cosine
// similarities of sentence embeddings, say: m[i][j] compares item i (a row,
// first at the top) with item j (a column). labels name the items; nil
// numbers them. The colour scale runs from the smallest value (or 0, if
// none is negative) to 1.
func Similarity(m [][]float32, labels []string, title string) (*charts.HeatMap, error) {
	labels, err := tokenLabels(m, labels)
	if err != nil {
		return nil, fmt.Errorf("viz.Similarity: %w", err)
	}
	lo := 0.0
	for i, row := range m {
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("viz.Similarity: m[%d][%d] is %v", i, j, v)
			}
			lo = math.Min(lo, float64(v))
		}
	}
	lo = math.Floor(lo*10) / 10
	// The scale's end labels, written out: echarts rounds its own to whole numbers.
	return squareHeatmap(m, labels, orDefault(title, "similarity"), "similarity", "", "", lo, 1,
		[]string{"1", strconv.FormatFloat(lo, 'f', -1, 64)}), nil
}

// squareHeatmap lays out a labelled square matrix as one series, values
// coloured from lo to hi; xName and yName name the axes. With text (the high
// end's label, then the low end's) the scale is labelled and fixed, else it
// has handles that filter the cells.
func squareHeatmap(m [][]float32, labels []string, title, series, xName, yName string, lo, hi float64, text []string) *charts.HeatMap {
	side := min(max(len(labels)*28, 240), 440)
	labelWidth := 14 + 7*longest(labels) // room for the labels, left and below
	interval := labelInterval(len(labels), side, 12)
	hm := charts.NewHeatMap()
	hm.SetGlobalOptions(append(common(labelWidth+side+140, 60+side+labelWidth+40, title, "", opts.Tooltip{}),
		charts.WithGridOpts(opts.Grid{Left: strconv.Itoa(labelWidth + 30), Top: "60", Width: strconv.Itoa(side), Height: strconv.Itoa(side)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: labels, Name: xName, NameLocation: "middle", NameGap: labelWidth + 8,
			AxisLabel: &opts.AxisLabel{Interval: interval, Rotate: 90}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: labels, Name: yName, Inverse: opts.Bool(true),
			NameLocation: "middle", NameGap: labelWidth + 8, AxisLabel: &opts.AxisLabel{Interval: interval}}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(text == nil), Min: float32(lo), Max: float32(hi), Right: "10", Top: "middle",
			Text: text, InRange: attentionColours}),
	)...)
	hm.AddSeries(series, heatCells(m))
	hm.Accept(fixups{})
	return hm
}

// AttentionGrid draws the attention of every head of every layer in one
// chart, a small heatmap per head: weights[layer][head][q][k] as
// AttentionWeights returns. Rows are layers, columns heads; token labels
// are written beside the first column and under the last row.
func AttentionGrid(weights [][][][]float32, labels []string, title string) (*charts.HeatMap, error) {
	labels, err := gridLabels(weights, labels)
	if err != nil {
		return nil, fmt.Errorf("viz.AttentionGrid: %w", err)
	}
	layers, heads := len(weights), len(weights[0])
	g := newGridLayout(layers, heads, labels)
	hm := charts.NewHeatMap()
	hm.SetGlobalOptions(append(common(g.width, g.height, orDefault(title, "attention"),
		fmt.Sprintf("%d layers × %d heads", layers, heads), opts.Tooltip{}),
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(true), Min: 0, Max: 1, Right: "10", Top: "middle",
			InRange: attentionColours}),
	)...)
	hm.XAxisList, hm.YAxisList = nil, nil // one pair per panel, added below
	var grids []opts.Grid
	for l := range layers {
		for h := range heads {
			i := l*heads + h
			grid, x, y := g.panel(l, h, labels)
			grids = append(grids, grid)
			hm.ExtendXAxis(x)
			hm.ExtendYAxis(y)
			hm.AddSeries(fmt.Sprintf("layer %d head %d", l, h), heatCells(weights[l][h]),
				charts.WithHeatMapChartOpts(opts.HeatMapChart{XAxisIndex: i, YAxisIndex: i}))
		}
	}
	var titles []opts.Title
	for h := range heads {
		titles = append(titles, g.headTitle(h))
	}
	hm.SetGlobalOptions(charts.WithGridOpts(grids...))
	hm.Accept(fixups{titles: titles})
	return hm, nil
}

// gridLayout places the panels of an AttentionGrid, in pixels: token labels
// take the left and bottom margins, the colour scale the right one, head
// titles the top one.
type gridLayout struct {
	layers, heads int
	left, cell    int
	labelWidth    int
	interval      string // axis label interval
	width, height int    // of the whole chart
}

const gridGap, gridRight, gridTop, gridFontSize = 10, 90, 80, 9

func newGridLayout(layers, heads int, labels []string) gridLayout {
	g := gridLayout{layers: layers, heads: heads, labelWidth: 12 + 6*longest(labels)}
	g.left = g.labelWidth + 28
	bottom := g.labelWidth + 12
	// Cells as large as fit in 960×600 pixels, but no smaller than 40.
	g.cell = max(min((960-g.left-gridRight)/heads, (600-gridTop-bottom)/layers)-gridGap, 40)
	g.interval = labelInterval(len(labels), g.cell, gridFontSize)
	g.width = g.left + heads*(g.cell+gridGap) + gridRight
	g.height = gridTop + layers*(g.cell+gridGap) + bottom
	return g
}

// panel returns the grid and axes of layer l, head h: labels on the x axis
// of the bottom row and the y axis (named for the layer) of the first column.
func (g gridLayout) panel(l, h int, labels []string) (opts.Grid, opts.XAxis, opts.YAxis) {
	i := l*g.heads + h
	grid := opts.Grid{Left: strconv.Itoa(g.left + h*(g.cell+gridGap)), Top: strconv.Itoa(gridTop + l*(g.cell+gridGap)),
		Width: strconv.Itoa(g.cell), Height: strconv.Itoa(g.cell)}
	x := opts.XAxis{Type: "category", Data: labels, GridIndex: i, Show: opts.Bool(l == g.layers-1),
		AxisLabel: &opts.AxisLabel{Interval: g.interval, Rotate: 90, FontSize: gridFontSize}, AxisTick: &opts.AxisTick{Show: opts.Bool(false)}}
	y := opts.YAxis{Type: "category", Data: labels, GridIndex: i, Inverse: opts.Bool(true), Show: opts.Bool(h == 0),
		AxisLabel: &opts.AxisLabel{Interval: g.interval, FontSize: gridFontSize}}
	if h == 0 {
		y.Name, y.NameLocation, y.NameGap = fmt.Sprintf("layer %d", l), "middle", g.labelWidth
	}
	return grid, x, y
}

// headTitle is the caption above column h.
func (g gridLayout) headTitle(h int) opts.Title {
	return opts.Title{Title: fmt.Sprintf("head %d", h), Left: strconv.Itoa(g.left + h*(g.cell+gridGap) + g.cell/2),
		Top: strconv.Itoa(gridTop - 22), TextAlign: "center", TitleStyle: &opts.TextStyle{FontSize: 12, FontWeight: "normal"}}
}

// gridLabels checks that every layer has as many heads as the first and
// every head is square over the same tokens, and returns the labels (the
// token positions when labels is nil).
func gridLabels(weights [][][][]float32, labels []string) ([]string, error) {
	if len(weights) == 0 || len(weights[0]) == 0 {
		return nil, fmt.Errorf("no layers or no heads")
	}
	labels, err := tokenLabels(weights[0][0], labels)
	if err != nil {
		return nil, fmt.Errorf("layer 0 head 0: %w", err)
	}
	for l := range weights {
		if len(weights[l]) != len(weights[0]) {
			return nil, fmt.Errorf("layer %d has %d heads, layer 0 has %d", l, len(weights[l]), len(weights[0]))
		}
		for h := range weights[l] {
			if err := square(weights[l][h], len(labels)); err != nil {
				return nil, fmt.Errorf("layer %d head %d: %w", l, h, err)
			}
		}
	}
	return labels, nil
}

// heatCells lists weights as [key, query, value] cells.
func heatCells(weights [][]float32) []opts.HeatMapData {
	cells := make([]opts.HeatMapData, 0, len(weights)*len(weights))
	for q, row := range weights {
		for k, v := range row {
			if finite(float64(v)) {
				cells = append(cells, opts.HeatMapData{Value: [3]any{k, q, round(float64(v))}})
			}
		}
	}
	return cells
}

// labelInterval returns the axis label interval (as go-echarts spells it)
// that shows every label when n of them fit in length pixels at fontSize,
// else every second, third, ...
func labelInterval(n, length, fontSize int) string {
	return strconv.Itoa((fontSize*6/5*n - 1) / length)
}

// tokenLabels checks that weights is square and returns labels, or the
// token positions when labels is nil.
func tokenLabels(weights [][]float32, labels []string) ([]string, error) {
	n := len(weights)
	if err := square(weights, n); err != nil {
		return nil, err
	}
	if labels == nil {
		labels = make([]string, n)
		for i := range labels {
			labels[i] = strconv.Itoa(i)
		}
	}
	if len(labels) != n {
		return nil, fmt.Errorf("%d labels for %d tokens", len(labels), n)
	}
	return labels, nil
}

// square checks that weights is n×n with n > 0.
func square(weights [][]float32, n int) error {
	if n == 0 || len(weights) != n {
		return fmt.Errorf("%d rows of weights, want %d tokens (and at least one)", len(weights), n)
	}
	for q, row := range weights {
		if len(row) != n {
			return fmt.Errorf("row %d has %d weights, want %d", q, len(row), n)
		}
	}
	return nil
}

// longest returns the length in runes of the longest label.
func longest(labels []string) int {
	n := 0
	for _, l := range labels {
		n = max(n, len([]rune(l)))
	}
	return n
}
