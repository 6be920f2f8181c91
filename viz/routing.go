package viz

import (
	"fmt"
	"math"

	"github.com/go-echarts/go-echarts/v2/charts"
)

// ExpertRouting draws where a mixture of experts' router sent each token:
// a row per token, a column per expert, cell [t][e] the weight expert e's
// output has in token t's (0 where the router did not choose e; a token's
// chosen weights sum to 1). experts[t] and weights[t] are token t's chosen
// experts and their weights, as mixtral.Model.ExpertChoice gives one
// layer's; numExperts is the layer's number of experts.
func ExpertRouting(tokens []string, experts [][]int, weights [][]float32, numExperts int, title string) (*charts.HeatMap, error) {
	if len(experts) != len(tokens) || len(weights) != len(tokens) {
		return nil, fmt.Errorf("viz.ExpertRouting: %d tokens, %d rows of experts and %d of weights", len(tokens), len(experts), len(weights))
	}
	cols := make([]string, numExperts)
	for e := range cols {
		cols[e] = fmt.Sprintf("expert %d", e)
	}
	share, tips := make([][]float64, len(tokens)), make([][]string, len(tokens))
	for t := range tokens {
		if len(experts[t]) != len(weights[t]) {
			return nil, fmt.Errorf("viz.ExpertRouting: token %d (%q) has %d experts and %d weights", t, tokens[t], len(experts[t]), len(weights[t]))
		}
		share[t], tips[t] = make([]float64, numExperts), make([]string, numExperts)
		for e := range tips[t] {
			tips[t][e] = fmt.Sprintf("%s: not sent to expert %d", tokens[t], e)
		}
		for i, e := range experts[t] {
			if e < 0 || e >= numExperts {
				return nil, fmt.Errorf("viz.ExpertRouting: token %d (%q) sent to expert %d of %d", t, tokens[t], e, numExperts)
			}
			share[t][e] = math.Round(float64(weights[t][i])*100) / 100 // two digits fit a cell
			tips[t][e] = fmt.Sprintf("%s → expert %d: choice %d, weight %.3f", tokens[t], e, i+1, weights[t][i])
		}
	}
	return shareGrid(gridSpec{name: "viz.ExpertRouting", rows: tokens, cols: cols, rowNoun: "token", colNoun: "expert",
		title: orDefault(title, "expert routing"), subtitle: "weight of each expert in each token's output (two digits; the tooltip has three)", series: "weight"}, share, tips)
}
