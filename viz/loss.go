package viz

import (
	"math"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Point is one measurement of a metric: its value after a training step.
type Point struct {
	Step  int
	Value float64
}

// Run is the loss of one training run: Train measured every step or few,
// Valid (validation) now and then.
type Run struct {
	// Name labels the run in the legend; it may be empty for a single run.
	Name  string
	Train []Point
	Valid []Point
}

// LossOptions controls LossCurves.
type LossOptions struct {
	// Title of the chart; "loss" when empty.
	Title string
	// Smoothing is the weight of the exponential moving average drawn over
	// the training curves, in [0, 1): 0 draws them as measured, 0.9 is a
	// typical TensorBoard-like setting. The measured values stay behind the
	// smoothed line, faint. Validation curves are drawn as measured.
	Smoothing float64
	// LogY draws the loss on a logarithmic axis (values ≤ 0 are left out).
	LogY bool
}

// maxPoints is the most points drawn per series; longer series are thinned
// evenly (after smoothing), which keeps a long run's chart quick to redraw.
const maxPoints = 2000

// LossCurves draws the training and validation loss of one or more runs
// against the step. Each run has its own colour (a single run's validation
// curve another one); training is a solid line, validation dashed with a
// marker at each measurement. Values that are NaN
// or infinite are left out.
func LossCurves(runs []Run, o LossOptions) *charts.Line {
	yType := "value"
	if o.LogY {
		yType = "log"
	}
	line := charts.NewLine()
	line.SetGlobalOptions(append(common(900, 460, orDefault(o.Title, "loss"), "", opts.Tooltip{Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Type: "scroll", Bottom: "0"}),
		charts.WithGridOpts(opts.Grid{Left: "70", Right: "60", Top: "60", Bottom: "70"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "step", Scale: opts.Bool(true)}),
		charts.WithYAxisOpts(opts.YAxis{Type: yType, Name: "loss", Scale: opts.Bool(true)}),
	)...)
	for i, run := range runs {
		c := colour(i)
		name := func(split string) string {
			if run.Name == "" {
				return split
			}
			return run.Name + " · " + split
		}
		if len(run.Train) > 0 {
			train := name("train")
			if o.Smoothing > 0 {
				line.AddSeries(train, lineData(Smooth(run.Train, o.Smoothing), o.LogY), solid(c, 1))
				line.AddSeries(train, lineData(run.Train, o.LogY), solid(c, 0.25))
			} else {
				line.AddSeries(train, lineData(run.Train, o.LogY), solid(c, 1))
			}
		}
		if len(run.Valid) > 0 {
			if len(runs) == 1 {
				c = colour(3) // one run: tell validation from training by colour too
			}
			line.AddSeries(name("valid"), lineData(run.Valid, o.LogY),
				charts.WithLineChartOpts(opts.LineChart{Symbol: "circle", SymbolSize: 6, ShowSymbol: opts.Bool(true)}),
				charts.WithItemStyleOpts(opts.ItemStyle{Color: c}),
				charts.WithLineStyleOpts(opts.LineStyle{Color: c, Width: 2, Type: "dashed", Opacity: opts.Float(1)}))
		}
	}
	return line
}

// solid styles a training series: colour c at the given opacity, no markers.
func solid(c string, opacity float32) charts.SeriesOpts {
	return func(s *charts.SingleSeries) {
		charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false), Symbol: "none"})(s)
		charts.WithItemStyleOpts(opts.ItemStyle{Color: c})(s)
		charts.WithLineStyleOpts(opts.LineStyle{Color: c, Width: 2, Opacity: opts.Float(opacity)})(s)
	}
}

// lineData turns points into [step, value] pairs for a value x axis,
// leaving out what cannot be drawn and thinning to maxPoints.
func lineData(points []Point, logY bool) []opts.LineData {
	stride := (len(points) + maxPoints - 1) / maxPoints
	var data []opts.LineData
	for i, p := range points {
		if stride > 1 && i%stride != 0 && i != len(points)-1 {
			continue
		}
		if !finite(p.Value) || (logY && p.Value <= 0) {
			continue
		}
		data = append(data, opts.LineData{Value: []any{p.Step, round(p.Value)}})
	}
	return data
}

// Smooth returns the exponential moving average of points with the given
// weight in [0, 1), debiased as TensorBoard does so that the first values
// are not pulled towards zero: s_t = (w·m_{t-1} + (1−w)·x_t) / (1 − w^t).
// NaN and infinite values are skipped.
func Smooth(points []Point, weight float64) []Point {
	weight = min(max(weight, 0), 0.9999)
	out := make([]Point, 0, len(points))
	var m float64
	n := 0
	for _, p := range points {
		if !finite(p.Value) {
			continue
		}
		n++
		m = weight*m + (1-weight)*p.Value
		out = append(out, Point{Step: p.Step, Value: m / (1 - math.Pow(weight, float64(n)))})
	}
	return out
}

// lrSamples is the most steps LRSchedule evaluates.
const lrSamples = 1000

// LRSchedule draws a learning-rate schedule: lr(step) for step 0 to
// steps−1, evaluated at up to 1,000 evenly spaced steps (always the first
// and the last). The title is "learning rate" when empty.
func LRSchedule(lr func(step int) float64, steps int, title string) *charts.Line {
	var data []opts.LineData
	if steps > 0 {
		stride := max(1, (steps+lrSamples-1)/lrSamples)
		for s := 0; s < steps; s += stride {
			data = appendLR(data, s, lr(s))
		}
		if (steps-1)%stride != 0 {
			data = appendLR(data, steps-1, lr(steps-1))
		}
	}
	line := charts.NewLine()
	line.SetGlobalOptions(append(common(900, 360, orDefault(title, "learning rate"), "", opts.Tooltip{Trigger: "axis"}),
		charts.WithGridOpts(opts.Grid{Left: "80", Right: "60", Top: "60", Bottom: "40"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "step", Min: 0, Max: max(steps-1, 1)}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "lr"}),
	)...)
	line.AddSeries("lr", data, solid(colour(0), 1),
		charts.WithAreaStyleOpts(opts.AreaStyle{Color: colour(0), Opacity: opts.Float(0.15)}))
	return line
}

func appendLR(data []opts.LineData, step int, v float64) []opts.LineData {
	if !finite(v) {
		return data
	}
	return append(data, opts.LineData{Value: []any{step, round(v)}})
}
