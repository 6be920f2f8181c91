// Package viz draws the charts of trustformers-go with go-echarts and shows
// them in a GoNB notebook, as standalone HTML files, or as PNG screenshots
// taken by headless Chromium.
//
// The builders take plain Go data and return a go-echarts chart, which
// callers may restyle with its SetGlobalOptions: LossCurves (runs, train and
// validation, smoothing, log scale), LRSchedule, Attention and AttentionGrid
// (with AttentionWeights to read a model's attention tensors), TopTokens
// (next-token probabilities per generation step), Embeddings (a PCA
// projection) and Histogram. LiveLoss is a training loop's metrics callback
// that redraws a loss chart in place in the notebook.
//
// Rendering works offline: the echarts library comes from the npm package that
// `make setup` installs into .deps/echarts. Notebook output inlines it, wrapped
// so that classic Jupyter's require.js does not capture it; standalone files
// get a copy beside them. When no local copy exists, the charts load echarts
// from its public CDN and print a one-line notice saying so.
package viz

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-echarts/go-echarts/v2/render"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/trustformers/trustformers-go/models/weights"
)

// Chart is anything go-echarts can render: every chart type in
// github.com/go-echarts/go-echarts/v2/charts (Line, Bar, HeatMap, ...).
type Chart interface {
	RenderSnippet() render.ChartSnippet
}

// EnvEChartsJS names the echarts.min.js file to use, overriding the search.
const EnvEChartsJS = "TRUSTFORMERS_ECHARTS_JS"

// CDN is where charts load echarts from when no local copy is installed.
const CDN = "https://cdn.jsdelivr.net/npm/echarts@5.6.0/dist/echarts.min.js"

// echartsInRepo is where `make setup` puts the library, relative to the repository root.
const echartsInRepo = ".deps/echarts/echarts.min.js"

// EChartsJS returns the path of the local echarts.min.js: the file named by
// TRUSTFORMERS_ECHARTS_JS, else .deps/echarts/echarts.min.js in the working
// directory or a parent, else in the repository this package was built from.
// It returns an error listing the places searched when there is none.
func EChartsJS() (string, error) {
	var searched []string
	if env := os.Getenv(EnvEChartsJS); env != "" {
		if isFile(env) {
			return env, nil
		}
		searched = append(searched, EnvEChartsJS+"="+env)
	}
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dirs = append(dirs, filepath.Dir(filepath.Dir(file)))
	}
	for _, d := range dirs {
		p := filepath.Join(d, echartsInRepo)
		if isFile(p) {
			return p, nil
		}
		searched = append(searched, p)
	}
	return "", fmt.Errorf("echarts.min.js not found (run `make setup`, or set %s); searched %s",
		EnvEChartsJS, strings.Join(searched, ", "))
}

var (
	inlineOnce sync.Once
	inlineJS   string // the wrapped library, or "" when no local copy exists
	inlineErr  error
)

// inlineLibrary returns echarts wrapped so that AMD loaders (require.js in
// classic Jupyter) do not capture it: inside the wrapper define, exports and
// module are undefined, so the library attaches itself to window.
func inlineLibrary() (string, error) {
	inlineOnce.Do(func() {
		path, err := EChartsJS()
		if err != nil {
			inlineErr = err
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			inlineErr = fmt.Errorf("reading %s: %w", path, err)
			return
		}
		inlineJS = "(function(define, exports, module) {\n" + string(data) + "\n}).call(window);"
	})
	return inlineJS, inlineErr
}

// shown records whether this process already put the library into the page.
// GoNB runs each cell in its own process, so every cell that draws a chart
// carries the library once, whatever its other cells do. It is atomic
// because a LiveLoss may draw from a training goroutine.
var shown atomic.Bool

// Snippet returns an HTML fragment that draws chart wherever it is inserted:
// a notebook cell output, another page. The echarts library is inlined (once
// per process) when installed locally, else loaded from CDN, with a notice.
func Snippet(chart Chart) string {
	return snippet(chart, !shown.Load())
}

// snippet returns chart's HTML fragment, with the library inlined when
// withLibrary is set.
func snippet(chart Chart, withLibrary bool) string {
	var b strings.Builder
	writeLibrary(&b, withLibrary)
	shown.Store(true)
	writeChart(&b, chart)
	return b.String()
}

// chartWrapper replaces go-echarts' <div class="container"> around each
// chart: classic Jupyter's stylesheet makes any .container a fixed 1140-px
// box, wider than a notebook's output area, so every chart got a horizontal
// scrollbar. The wrapper centres the chart within whatever width it has,
// and scrolls only a chart wider than that.
const chartWrapper = `<div class="trustformers-chart" style="display:flex;justify-content:center;max-width:100%;overflow-x:auto">`

// writeChart writes chart's element and its drawing script.
func writeChart(b *strings.Builder, chart Chart) {
	s := chart.RenderSnippet()
	b.WriteString(strings.Replace(s.Element, `<div class="container">`, chartWrapper, 1))
	b.WriteString("\n")
	b.WriteString(deferUntilLoaded(s.Script))
}

// writeLibrary writes the script that makes window.echarts available.
func writeLibrary(w io.Writer, inline bool) {
	js, err := inlineLibrary()
	switch {
	case err != nil:
		fmt.Fprintf(w, "<div style=\"font:12px monospace;color:#a60\">viz: %s; loading echarts from %s</div>\n",
			html.EscapeString(err.Error()), CDN)
		fmt.Fprintf(w, "<script>%s</script>\n", cdnLoader)
	case inline:
		fmt.Fprintf(w, "<script>if (typeof window.echarts === 'undefined') {\n%s\n}</script>\n", js)
	}
}

// cdnLoader loads echarts from the CDN once: through require.js when the
// page has it (classic Jupyter), else with a script element.
var cdnLoader = `(function() {
  if (window.echarts || window.__trustformersEChartsLoading) return;
  window.__trustformersEChartsLoading = true;
  var done = function(ec) { if (ec) window.echarts = ec; };
  if (typeof window.require === 'function' && window.require.config) {
    window.require.config({paths: {echarts: '` + strings.TrimSuffix(CDN, ".js") + `'}});
    window.require(['echarts'], done);
  } else {
    var s = document.createElement('script'); s.src = '` + CDN + `';
    document.head.appendChild(s);
  }
})();`

// deferUntilLoaded rewrites go-echarts' chart script so that it runs once
// window.echarts exists (immediately when the library is inlined).
func deferUntilLoaded(script string) string {
	body := strings.TrimSpace(script)
	body = strings.TrimPrefix(body, `<script type="text/javascript">`)
	body = strings.TrimSuffix(body, `</script>`)
	return "<script type=\"text/javascript\">\n(function draw() {\n" +
		"  if (typeof window.echarts === 'undefined') { setTimeout(draw, 50); return; }\n" +
		body + "\n})();\n</script>\n"
}

// Show displays chart in the GoNB notebook running this code. Outside a
// notebook it does nothing and returns an error saying so.
func Show(chart Chart) error {
	if !gonbui.IsNotebook {
		return fmt.Errorf("viz.Show: not running inside a GoNB notebook (use SaveHTML for a file)")
	}
	gonbui.DisplayHTML(Snippet(chart))
	// Wait until GoNB has the output: a cell's process that exits right after
	// a large display (the inlined library is ~1 MB) can otherwise lose it.
	gonbui.Sync()
	return nil
}

// Page returns a complete standalone HTML page drawing chart. jsSrc is the
// src of the echarts script; "" inlines the library in the page.
func Page(chart Chart, title, jsSrc string) string {
	return PageOf(title, jsSrc, chart)
}

// PageOf is Page for several charts, drawn one below the other.
func PageOf(title, jsSrc string, charts ...Chart) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n", html.EscapeString(title))
	if jsSrc != "" {
		fmt.Fprintf(&b, "<script src=\"%s\"></script>\n", html.EscapeString(jsSrc))
	} else {
		writeLibrary(&b, true)
	}
	b.WriteString("<style>body{margin:0;background:#fff} .trustformers-chart{align-items:center;margin-top:16px}</style>\n</head>\n<body>\n")
	for _, chart := range charts {
		writeChart(&b, chart)
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

// SaveHTML writes chart as a standalone page to path. A copy of the local
// echarts library is written beside it as echarts.min.js (so the folder works
// offline and can be moved); without a local copy the page loads the CDN.
// Files are written to a temporary name and renamed.
func SaveHTML(chart Chart, path, title string) error {
	return SaveHTMLPage(path, title, chart)
}

// SaveHTMLPage is SaveHTML for several charts on one page.
func SaveHTMLPage(path, title string, charts ...Chart) error {
	src := CDN
	if lib, err := EChartsJS(); err == nil {
		dst := filepath.Join(filepath.Dir(path), "echarts.min.js")
		if !isFile(dst) {
			data, err := os.ReadFile(lib)
			if err != nil {
				return fmt.Errorf("viz.SaveHTML: reading %s: %w", lib, err)
			}
			if err := weights.WriteFileAtomic(dst, data); err != nil {
				return fmt.Errorf("viz.SaveHTML: %w", err)
			}
		}
		src = "echarts.min.js"
	} else {
		fmt.Fprintf(os.Stderr, "viz: %v; %s loads echarts from %s\n", err, path, CDN)
	}
	if err := weights.WriteFileAtomic(path, []byte(PageOf(title, src, charts...))); err != nil {
		return fmt.Errorf("viz.SaveHTML: %w", err)
	}
	return nil
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}
