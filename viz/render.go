// Package viz draws the charts of trustformers-go with go-echarts and shows
// them in a GoNB notebook, as HTML pages (lab.SaveHTML writes them to
// files), or as PNG screenshots taken by headless Chromium. It draws plain
// Go data and imports no package of this module, so that every layer may
// use it.
//
// The builders take plain Go data and return a go-echarts chart, which
// callers may restyle with its SetGlobalOptions: LossCurves (runs, train and
// validation, smoothing, log scale), LRSchedule, Attention and AttentionGrid
// (modeling.Output.AttentionWeights reads a model's attention tensors into
// the slices they take), TopTokens
// (next-token probabilities per generation step), Embeddings (a PCA
// projection) and Histogram. LiveLoss is a training loop's metrics callback
// that redraws a loss chart in place in the notebook.
//
// Rendering works offline: the echarts library comes from the npm package
// that `make setup` installs into .deps/echarts. A notebook gets it inlined
// once, in the output of its first chart after the kernel starts (so a saved
// notebook carries it once, and nbconvert's HTML export draws offline too),
// wrapped so that classic Jupyter's require.js does not capture it; files
// that lab.SaveHTML writes get a copy beside them. Every chart scales down
// to fit an output narrower than the size its builder chose. When no local
// copy exists, the charts load echarts from its public CDN and print a
// one-line notice saying so.
package viz

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-echarts/go-echarts/v2/render"
	"github.com/janpfeifer/gonb/gonbui"
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
// It is atomic because a LiveLoss may draw from a training goroutine.
var shown atomic.Bool

// pageMarker is the file that records, for the notebook page this process
// draws into, that an earlier cell's output already carries the library.
// GoNB runs each cell in a process of its own but gives every process of one
// kernel the same GONB_TMP_DIR, which a kernel restart replaces; so the
// library reaches a notebook once per kernel session, with its first chart.
// It is "" outside a notebook.
func pageMarker() string {
	if !gonbui.IsNotebook {
		return ""
	}
	dir := os.Getenv("GONB_TMP_DIR")
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "trustformers-viz-echarts-in-page")
}

// libraryInPage reports whether the page already has the library: this
// process inlined it, or an earlier cell of the same kernel did.
func libraryInPage() bool {
	if shown.Load() {
		return true
	}
	marker := pageMarker()
	return marker != "" && isFile(marker)
}

// markLibraryInPage records that the library has been put into the page.
func markLibraryInPage() {
	shown.Store(true)
	if marker := pageMarker(); marker != "" {
		_ = os.WriteFile(marker, nil, 0o644) // at worst a later chart inlines it again
	}
}

// Snippet returns an HTML fragment that draws chart wherever it is inserted:
// a notebook cell output, another page. The echarts library is inlined when
// installed locally and not yet in the page (in a notebook: not yet in an
// output of this kernel session), else loaded from CDN, with a notice.
// Every chart scales down to fit an output narrower than its size.
func Snippet(chart Chart) string {
	return snippet(chart, !libraryInPage())
}

// snippet returns chart's HTML fragment, with the library inlined when
// withLibrary is set.
func snippet(chart Chart, withLibrary bool) string {
	var b strings.Builder
	if writeLibrary(&b, withLibrary) {
		markLibraryInPage()
	}
	writeChart(&b, chart)
	return b.String()
}

// chartWrapper replaces go-echarts' <div class="container"> around each
// chart: classic Jupyter's stylesheet makes any .container a fixed 1140-px
// box, wider than a notebook's output area. The wrapper takes the width it
// is given; the chart keeps the size its builder chose and is centred in
// it, or scaled down as a whole (fitScript) when the wrapper is narrower, so
// that labels keep the spacing they were laid out with and never overlap.
const chartWrapper = `<div class="trustformers-chart" style="width:100%;max-width:100%;overflow:hidden">`

// fitScript scales chart element el (its size set in pixels by go-echarts)
// down to its wrapper's width, now and whenever the wrapper is resized.
// ECharts maps the mouse through the CSS transform, so tooltips still work.
const fitScript = `(function(el) {
  var box = el.parentNode, w = el.offsetWidth, h = el.offsetHeight;
  if (!box || !w) return;
  el.style.margin = '0 auto';
  el.style.transformOrigin = '0 0';
  var fit = function() {
    var s = Math.min(1, box.clientWidth / w);
    el.style.transform = s < 1 ? 'scale(' + s + ')' : '';
    box.style.height = Math.ceil(h * s) + 'px';
  };
  fit();
  if (window.ResizeObserver) new ResizeObserver(fit).observe(box);
  else window.addEventListener('resize', fit);
})`

// writeChart writes chart's element and its drawing script.
func writeChart(b *strings.Builder, chart Chart) {
	s := chart.RenderSnippet()
	b.WriteString(strings.Replace(s.Element, `<div class="container">`, chartWrapper, 1))
	b.WriteString("\n")
	id := ""
	if m := chartID.FindStringSubmatch(s.Element); m != nil {
		id = m[1]
	}
	b.WriteString(deferUntilLoaded(s.Script, id))
}

// chartID finds the id of the element go-echarts draws a chart in.
var chartID = regexp.MustCompile(`<div class="item" id="([^"]+)"`)

// writeLibrary writes the script that makes window.echarts available, and
// reports whether it inlined the library.
func writeLibrary(w io.Writer, inline bool) bool {
	js, err := inlineLibrary()
	switch {
	case err != nil:
		fmt.Fprintf(w, "<div style=\"font:12px monospace;color:#a60\">viz: %s; loading echarts from %s</div>\n",
			html.EscapeString(err.Error()), CDN)
		fmt.Fprintf(w, "<script>%s</script>\n", cdnLoader)
	case inline:
		fmt.Fprintf(w, "<script>if (typeof window.echarts === 'undefined') {\n%s\n}</script>\n", js)
		return true
	}
	return false
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
// window.echarts exists (immediately when the library is inlined), then
// fits the chart of element id to its wrapper. A chart still waiting after
// 5 s says why in its box (a saved notebook whose library-carrying output
// was replaced by re-running its cell; see docs/notebooks.md), and draws
// if the library arrives later.
func deferUntilLoaded(script, id string) string {
	body := strings.TrimSpace(script)
	body = strings.TrimPrefix(body, `<script type="text/javascript">`)
	body = strings.TrimSuffix(body, `</script>`)
	return "<script type=\"text/javascript\">\n(function draw(tries) {\n" +
		"  var el = document.getElementById('" + id + "');\n" +
		"  if (typeof window.echarts === 'undefined') {\n" +
		"    if (tries === 100 && el) el.innerHTML = '" + missingLibrary + "';\n" +
		"    setTimeout(function() { draw(tries + 1); }, tries < 100 ? 50 : 250);\n" +
		"    return;\n" +
		"  }\n" +
		"  if (el) el.innerHTML = '';\n" +
		body + "\n  " + fitScript + "(el);\n})(0);\n</script>\n"
}

// missingLibrary is what a chart shows in its box while the echarts
// library is not in the page.
const missingLibrary = `<div style="font:13px sans-serif;color:#a60;padding:16px">` +
	`viz: the echarts library is not in this page, so this chart cannot be drawn. ` +
	`In a notebook it comes with the first chart after the kernel starts; ` +
	`if that cell was run again, Kernel › Restart &amp; Run All brings it back.</div>`

// Show displays chart in the GoNB notebook running this code. Outside a
// notebook it does nothing and returns an error saying so.
func Show(chart Chart) error {
	if !gonbui.IsNotebook {
		return fmt.Errorf("viz.Show: not running inside a GoNB notebook (use lab.SaveHTML for a file)")
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

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}
