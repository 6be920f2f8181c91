package viz

import (
	"fmt"
	"math"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Histogram draws the distribution of values (weights, activations,
// quantization errors) as bins equal-width bars from their minimum to their
// maximum; bins < 1 means 50. Each bar is labelled by its bin's centre. The
// subtitle gives the count, mean, standard deviation and range, and how many
// values were NaN or infinite (left out).
func Histogram[F Float](values []F, bins int, title string) *charts.Bar {
	if bins < 1 {
		bins = 50
	}
	edges, counts, s := histogram(values, bins)
	labels := make([]string, bins)
	data := make([]opts.BarData, bins)
	for i := range bins {
		labels[i] = fmt.Sprintf("%.3g", (edges[i]+edges[i+1])/2)
		data[i] = opts.BarData{Value: counts[i], Name: fmt.Sprintf("[%.4g, %.4g)", edges[i], edges[i+1])}
	}
	subtitle := fmt.Sprintf("n = %d   mean = %.4g   std = %.4g   range [%.4g, %.4g]", s.n, s.mean, s.std, s.min, s.max)
	if s.nonFinite > 0 {
		subtitle += fmt.Sprintf("   (%d NaN or infinite left out)", s.nonFinite)
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(append(common(900, 420, orDefault(title, "histogram"), subtitle, opts.Tooltip{Trigger: "item", Formatter: "{b}: {c}"}),
		charts.WithGridOpts(opts.Grid{Left: "70", Right: "40", Top: "80", Bottom: "50"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: "value", NameLocation: "middle", NameGap: 30}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "count"}),
	)...)
	bar.SetXAxis(labels)
	bar.AddSeries("count", data, charts.WithBarChartOpts(opts.BarChart{BarCategoryGap: "1"}))
	return bar
}

// stats summarizes the finite values of a histogram.
type stats struct {
	n, nonFinite        int
	mean, std, min, max float64
}

// histogram counts the finite values into bins equal-width bins between
// their minimum and maximum (a unit-wide range around the value when they
// are all equal) and returns the bins+1 edges, the counts and the summary.
func histogram[F Float](values []F, bins int) (edges []float64, counts []int, s stats) {
	s.min, s.max = math.Inf(1), math.Inf(-1)
	var sum, sumSq float64
	for _, v := range values {
		x := float64(v)
		if !finite(x) {
			s.nonFinite++
			continue
		}
		s.n++
		sum += x
		sumSq += x * x
		s.min, s.max = min(s.min, x), max(s.max, x)
	}
	if s.n == 0 {
		s.min, s.max = 0, 0
	} else {
		s.mean = sum / float64(s.n)
		s.std = math.Sqrt(max(0, sumSq/float64(s.n)-s.mean*s.mean))
	}
	lo, hi := s.min, s.max
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	width := (hi - lo) / float64(bins)
	edges = make([]float64, bins+1)
	for i := range edges {
		edges[i] = lo + float64(i)*width
	}
	edges[bins] = hi
	counts = make([]int, bins)
	for _, v := range values {
		x := float64(v)
		if !finite(x) {
			continue
		}
		counts[min(int((x-lo)/width), bins-1)]++
	}
	return edges, counts, s
}
