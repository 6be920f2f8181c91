package viz

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Float is the element type the builders accept for measured values.
type Float interface{ ~float32 | ~float64 }

// palette is echarts' default series palette; builders that colour series
// themselves (one colour per run) pick from it in order.
var palette = []string{"#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de",
	"#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"}

// colour returns the i-th palette colour, cycling.
func colour(i int) string { return palette[i%len(palette)] }

// common returns the options every builder sets: the size in pixels, the
// title (and subtitle), no legend (builders with several series add one),
// no animation (a redraw is instant and a screenshot
// shows the final state), and a tooltip.
func common(width, height int, title, subtitle string, tooltip opts.Tooltip) []charts.GlobalOpts {
	tooltip.Show = opts.Bool(true)
	return []charts.GlobalOpts{
		charts.WithInitializationOpts(opts.Initialization{Width: px(width), Height: px(height)}),
		charts.WithTitleOpts(opts.Title{Title: title, Subtitle: subtitle}),
		charts.WithTooltipOpts(tooltip),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithAnimation(false),
	}
}

func px(n int) string { return fmt.Sprintf("%dpx", n) }

// finite reports whether v can be drawn (JSON has no NaN or infinity).
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// round keeps 6 significant digits, enough for a chart and much shorter
// JSON than a float64's 17.
func round(v float64) float64 {
	if v == 0 || !finite(v) {
		return v
	}
	scale := math.Pow(10, 5-math.Floor(math.Log10(math.Abs(v))))
	if math.IsInf(scale, 0) || scale == 0 {
		return v
	}
	return math.Round(v*scale) / scale
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fixups edits a chart's option where go-echarts' types fall short; a
// builder installs it with chart.Accept(fixups{...}).
type fixups struct {
	charts.BaseConfigurationVisitor
	// titles are added after the chart's own title (per-panel captions,
	// which go-echarts' single Title cannot hold).
	titles []opts.Title
}

// Visit applies the fixups to the finished option.
func (f fixups) Visit(option map[string]any) {
	if len(f.titles) > 0 {
		all := []any{option["title"]}
		for _, t := range f.titles {
			all = append(all, t)
		}
		option["title"] = all
	}
	for _, key := range []string{"xAxis", "yAxis"} {
		if axes, ok := option[key]; ok {
			option[key] = numericIntervals(axes)
		}
	}
}

// numericIntervals rewrites each axis's axisLabel.interval from the string
// go-echarts writes ("0") to the number echarts needs: given a string,
// echarts adds 1 to it by concatenation and shows only a few labels.
func numericIntervals(axes any) any {
	raw, err := json.Marshal(axes)
	if err != nil {
		return axes
	}
	var list []map[string]any
	if json.Unmarshal(raw, &list) != nil {
		return axes
	}
	for _, axis := range list {
		if label, ok := axis["axisLabel"].(map[string]any); ok {
			if s, ok := label["interval"].(string); ok {
				if n, err := strconv.Atoi(s); err == nil {
					label["interval"] = n
				}
			}
		}
	}
	return list
}
