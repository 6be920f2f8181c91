package viz

import "github.com/go-echarts/go-echarts/v2/render"

// HTML is a fragment of HTML placed on a page among charts — a table, a
// caption — as it is: PageOf, Show and lab.SaveHTML take it like a chart.
// The fragment is not escaped; build it from escaped text.
type HTML string

// RenderSnippet returns the fragment as the snippet's element, with no
// script.
func (h HTML) RenderSnippet() render.ChartSnippet { return render.ChartSnippet{Element: string(h)} }
