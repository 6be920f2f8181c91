package viz_test

import (
	"fmt"
	"strings"

	"github.com/trustformers/trustformers-go/viz"
)

func ExampleHTML() {
	caption := viz.HTML("<p>two runs, one chart</p>")
	chart := viz.LossCurves([]viz.Run{{Name: "a", Valid: []viz.Point{{0, 4}, {10, 3}}}}, viz.LossOptions{})
	page := viz.PageOf("compare", "echarts.min.js", caption, chart)
	fmt.Println(strings.Index(page, "<p>two runs") < strings.Index(page, "echarts.init"))
	// Output: true
}
