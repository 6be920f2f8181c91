package viz

import (
	"fmt"

	"github.com/go-echarts/go-echarts/v2/charts"
)

// LayerMap draws a value for each layer (a row) and token position (a
// column) of a model, in [0, 1]: the logit lens's probability of its top
// token, or the share of a clean run's logit difference that patching one
// layer's input at one position recovers. text, when not nil, is written in
// each cell (the lens's top token), and shown with the value on hover;
// otherwise the value is written.
func LayerMap(layers, tokens []string, values [][]float64, text [][]string, title, subtitle string) (*charts.HeatMap, error) {
	if text != nil && len(text) != len(values) {
		return nil, fmt.Errorf("viz.LayerMap: %d rows of values and %d of text", len(values), len(text))
	}
	tips := make([][]string, len(values))
	for l, row := range values {
		if text != nil && len(text[l]) != len(row) {
			return nil, fmt.Errorf("viz.LayerMap: layer %q has %d values and %d texts", layers[min(l, len(layers)-1)], len(row), len(text[l]))
		}
		tips[l] = make([]string, len(row))
		for p, v := range row {
			tips[l][p] = fmt.Sprintf("%s, %s: %.3f", layers[min(l, len(layers)-1)], tokens[min(p, len(tokens)-1)], v)
			if text != nil {
				tips[l][p] = text[l][p]
			}
		}
	}
	return shareGrid(gridSpec{name: "viz.LayerMap", rows: layers, cols: tokens, rowNoun: "layer", colNoun: "token",
		title: orDefault(title, "layers × positions"), subtitle: subtitle, series: "value", cellText: text != nil}, values, tips)
}

// BlockPattern draws a block-sparse attention pattern: a row per query
// block, a column per key block, dark where attention computes the pair
// (kept[i][j], as modeling.SparsePattern.BlockMask gives it).
func BlockPattern(kept [][]bool, title string) (*charts.HeatMap, error) {
	if len(kept) == 0 || len(kept[0]) == 0 {
		return nil, fmt.Errorf("viz.BlockPattern: an empty pattern")
	}
	rows, cols := make([]string, len(kept)), make([]string, len(kept[0]))
	for j := range cols {
		cols[j] = fmt.Sprintf("k%d", j)
	}
	values, tips := make([][]float64, len(kept)), make([][]string, len(kept))
	for i, row := range kept {
		rows[i] = fmt.Sprintf("q%d", i)
		if len(row) != len(cols) {
			return nil, fmt.Errorf("viz.BlockPattern: query block %d has %d key blocks, block 0 has %d", i, len(row), len(cols))
		}
		values[i], tips[i] = make([]float64, len(row)), make([]string, len(row))
		for j, k := range row {
			tips[i][j] = fmt.Sprintf("query block %d, key block %d: skipped", i, j)
			if k {
				values[i][j], tips[i][j] = 1, fmt.Sprintf("query block %d, key block %d: computed", i, j)
			}
		}
	}
	return shareGrid(gridSpec{name: "viz.BlockPattern", rows: rows, cols: cols, rowNoun: "query block", colNoun: "key block",
		title: orDefault(title, "block-sparse attention"), subtitle: "the (query block, key block) pairs attention computes", series: "computed"}, values, tips)
}
