package viz

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/janpfeifer/gonb/gonbui"
)

// buildDir is the ignored folder where tests keep their screenshots.
const buildDir = "../build/viz"

func lineChart() *charts.Line {
	line := charts.NewLine()
	line.SetGlobalOptions(charts.WithTitleOpts(opts.Title{Title: "loss"}),
		charts.WithAnimation(false))
	x := []int{}
	var ys []opts.LineData
	for i := range 20 {
		x = append(x, i)
		ys = append(ys, opts.LineData{Value: 4.0 / float64(i+1)})
	}
	line.SetXAxis(x).AddSeries("train", ys)
	return line
}

// requireLocalECharts fails when the local echarts copy is missing under
// `make test` (which runs setup first), and skips with the fix otherwise.
func requireLocalECharts(t *testing.T) string {
	t.Helper()
	path, err := EChartsJS()
	if err != nil {
		if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
			t.Fatalf("after `make setup`: %v", err)
		}
		t.Skipf("%v", err)
	}
	return path
}

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := Chromium(); err != nil {
		if os.Getenv("TRUSTFORMERS_REQUIRE_SETUP") != "" {
			t.Fatalf("after `make setup`: %v", err)
		}
		t.Skipf("%v", err)
	}
}

const wrappedLibrary = "(function(define, exports, module) {"

func TestSnippetInlinesLibraryOnce(t *testing.T) {
	requireLocalECharts(t)
	shown.Store(false)
	first := Snippet(lineChart())
	second := Snippet(lineChart())
	if !strings.Contains(first, wrappedLibrary) {
		t.Fatalf("first snippet does not inline echarts wrapped against require.js")
	}
	if strings.Contains(second, wrappedLibrary) {
		t.Fatalf("second snippet in the same process inlines echarts again")
	}
	if strings.Contains(first, "<script src=") {
		t.Fatalf("snippet loads a script by src; require.js would capture it")
	}
}

// TestLibraryOncePerKernel plays the cells of one GoNB kernel, each a
// process of its own (shown starts false in each) sharing GONB_TMP_DIR:
// only the first chart of the kernel inlines the library; a kernel restart
// (a new GONB_TMP_DIR) inlines it again.
func TestLibraryOncePerKernel(t *testing.T) {
	requireLocalECharts(t)
	defer func(was bool) { gonbui.IsNotebook = was; shown.Store(false) }(gonbui.IsNotebook)
	gonbui.IsNotebook = true
	cell := func() string { shown.Store(false); return Snippet(lineChart()) }
	t.Setenv("GONB_TMP_DIR", t.TempDir())
	if !strings.Contains(cell(), wrappedLibrary) {
		t.Fatalf("the kernel's first chart does not inline echarts")
	}
	for i := range 3 {
		if strings.Contains(cell(), wrappedLibrary) {
			t.Fatalf("cell %d of the same kernel inlines echarts again", i+2)
		}
	}
	t.Setenv("GONB_TMP_DIR", t.TempDir())
	if !strings.Contains(cell(), wrappedLibrary) {
		t.Fatalf("after a kernel restart the first chart does not inline echarts")
	}
}

// TestChartWrapperIsNotJupytersContainer checks that no chart is wrapped in
// a div of class "container", which classic Jupyter's stylesheet fixes at
// 1140 px (a horizontal scrollbar under every chart in a notebook), that the
// wrapper takes its output's width, and that the chart is fitted to it.
func TestChartWrapperIsNotJupytersContainer(t *testing.T) {
	for name, chart := range map[string]Chart{"line": lineChart()} {
		html := snippet(chart, false)
		if strings.Contains(html, `class="container"`) {
			t.Errorf("%s: the snippet wraps the chart in Jupyter's .container:\n%s", name, html)
		}
		if !strings.Contains(html, chartWrapper) || !strings.Contains(chartWrapper, "width:100%") {
			t.Errorf("%s: the snippet lacks the wrapper of its output's width:\n%s", name, html)
		}
		m := chartID.FindStringSubmatch(html)
		if m == nil || !strings.Contains(html, "var el = document.getElementById('"+m[1]+"')") || !strings.Contains(html, fitScript+"(el)") {
			t.Errorf("%s: the chart is not fitted to its wrapper:\n%s", name, html)
		}
	}
}

// TestChartsRenderOffline renders a chart as a standalone file (with the
// library copied beside it) and as an inlined page, in headless Chromium with
// no network, and fails when the screenshot is blank.
func TestChartsRenderOffline(t *testing.T) {
	requireLocalECharts(t)
	requireChromium(t)
	dir, err := filepath.Abs(buildDir)
	if err != nil {
		t.Fatal(err)
	}
	standalone := filepath.Join(dir, "standalone", "line.html")
	savePage(t, standalone, "line", lineChart())
	inlined := filepath.Join(dir, "inlined", "line.html")
	os.MkdirAll(filepath.Dir(inlined), 0o755)
	if err := os.WriteFile(inlined, []byte(Page(lineChart(), "line", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{standalone, inlined} {
		requireDrawn(t, page, 900, 500)
	}
}

// savePage writes charts as a standalone page at path with the local echarts
// library copied beside it, as lab.SaveHTML does for users.
func savePage(t *testing.T, path, title string, charts ...Chart) {
	t.Helper()
	lib, err := EChartsJS()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "echarts.min.js"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(PageOf(title, "echarts.min.js", charts...)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// requireDrawn screenshots the page at width×height beside it (same name,
// .png) and fails the test when the screenshot is blank.
func requireDrawn(t *testing.T, page string, width, height int) {
	t.Helper()
	png := strings.TrimSuffix(page, ".html") + ".png"
	if err := Screenshot(page, png, width, height); err != nil {
		t.Fatal(err)
	}
	std, err := PixelStdDev(png)
	if err != nil {
		t.Fatal(err)
	}
	coloured, err := ColouredFraction(png)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d×%d, grey std-dev %.1f, coloured pixels %.2f%%", png, width, height, std, 100*coloured)
	if std < 5 || coloured < 0.001 {
		t.Errorf("%s renders blank: grey std-dev %.2f, coloured fraction %.5f (screenshot %s)", page, std, coloured, png)
	}
}

func TestBlankPageIsDetected(t *testing.T) {
	requireChromium(t)
	dir, _ := filepath.Abs(buildDir)
	page := filepath.Join(dir, "blank", "blank.html")
	os.MkdirAll(filepath.Dir(page), 0o755)
	if err := os.WriteFile(page, []byte("<!DOCTYPE html><html><body></body></html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "blank", "blank.png")
	if err := Screenshot(page, png, 400, 300); err != nil {
		t.Fatal(err)
	}
	std, err := PixelStdDev(png)
	if err != nil {
		t.Fatal(err)
	}
	if std > 0.5 {
		t.Fatalf("empty page has grey std-dev %.2f; the blank check would not catch a blank chart", std)
	}
}
