package viz

import (
	"fmt"
	"math"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// minLabelled is the smallest probability whose bar segment is tall enough
// to hold its token's label.
const minLabelled = 0.06

// TokenStep is one generation step as TopTokens reads it: the token
// chosen, and the most likely tokens at that step with their
// log-probabilities, most likely first. generate.Step is one (viz depends
// on no model package; the method set is the contract).
type TokenStep interface {
	Chosen() int32
	Alternatives() (ids []int32, logProbs []float64)
}

// TopTokens draws what a model was choosing between at each generation
// step: the probabilities of its most likely next tokens as stacked bars
// (rank 1 at the bottom, each segment labelled with its token where there
// is room), and what they leave to the rest of the vocabulary in grey on
// top. steps are generate.Output.Steps from a run with
// Options.TopLogProbs > 0. token names a token for the labels; nil writes
// its id. Each step's axis label is "step:chosen token". The title is
// "top-k next-token probabilities" (k filled in) when empty.
func TopTokens[S TokenStep](steps []S, token func(id int32) string, title string) *charts.Bar {
	if token == nil {
		token = func(id int32) string { return strconv.Itoa(int(id)) }
	}
	k := 0
	for _, s := range steps {
		ids, _ := s.Alternatives()
		k = max(k, len(ids))
	}
	labels := make([]string, len(steps))
	ranks := make([][]opts.BarData, k)
	rest := make([]opts.BarData, len(steps))
	for i, s := range steps {
		labels[i] = fmt.Sprintf("%d:%s", i, token(s.Chosen()))
		ids, logProbs := s.Alternatives()
		left := 1.0
		for r := range k {
			if r >= len(ids) || r >= len(logProbs) {
				ranks[r] = append(ranks[r], opts.BarData{Value: 0})
				continue
			}
			p := math.Exp(logProbs[r])
			left -= p
			d := opts.BarData{Name: token(ids[r]), Value: round(p)}
			if p < minLabelled {
				d.Label = &opts.Label{Show: opts.Bool(false)}
			}
			ranks[r] = append(ranks[r], d)
		}
		rest[i] = opts.BarData{Name: "rest", Value: round(max(left, 0))}
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(append(common(max(480, min(60+48*len(steps), 1100)), 440,
		orDefault(title, fmt.Sprintf("top-%d next-token probabilities", k)), "", opts.Tooltip{Trigger: "item", Formatter: "{a}: {b} (p = {c})"}),
		charts.WithLegendOpts(opts.Legend{Type: "scroll", Bottom: "0"}),
		charts.WithGridOpts(opts.Grid{Left: "60", Right: "30", Top: "60", Bottom: "90"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: "step:chosen", NameLocation: "middle", NameGap: 55,
			AxisLabel: &opts.AxisLabel{Interval: "0", Rotate: 45}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "p", Min: 0, Max: 1}),
	)...)
	bar.SetXAxis(labels)
	inside := charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Position: "inside", Formatter: "{b}", FontSize: 10, Color: "#fff"})
	for r := range k {
		bar.AddSeries(fmt.Sprintf("rank %d", r+1), ranks[r], charts.WithBarChartOpts(opts.BarChart{Stack: "p", BarCategoryGap: "20%"}), inside)
	}
	bar.AddSeries("rest", rest, charts.WithBarChartOpts(opts.BarChart{Stack: "p"}),
		charts.WithItemStyleOpts(opts.ItemStyle{Color: "#d9d9d9"}))
	bar.Accept(fixups{})
	return bar
}
