package viz

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// option is the part of an echarts option these tests read.
type option struct {
	Title     json.RawMessage `json:"title"` // an object, or a list of them
	XAxis     []axis          `json:"xAxis"`
	YAxis     []axis          `json:"yAxis"`
	Grid      []struct{ Left, Top, Width, Height string }
	VisualMap []struct{ Min, Max float64 } `json:"visualMap"`
	Series    []series
}

type title struct {
	Text    string `json:"text"`
	Subtext string `json:"subtext"`
}

type axis struct {
	Type, Name string
	AxisLabel  struct{ Interval any }
	Data       []string
	Inverse    bool
	Show       *bool
	GridIndex  int
}

type series struct {
	Name, Type, Stack      string
	Data                   []datum
	XAxisIndex, YAxisIndex int
	LineStyle              struct {
		Type    string
		Color   string
		Opacity float64
	}
	Label *struct{ Show bool }
}

type datum struct {
	Name  string
	Value json.RawMessage
	Label *struct{ Show bool }
}

// pair decodes a [x, y] value.
func (d datum) pair(t *testing.T) [2]float64 {
	t.Helper()
	var v [2]float64
	if err := json.Unmarshal(d.Value, &v); err != nil {
		t.Fatalf("value %s is not [x, y]: %v", d.Value, err)
	}
	return v
}

// number decodes a scalar value.
func (d datum) number(t *testing.T) float64 {
	t.Helper()
	var v float64
	if err := json.Unmarshal(d.Value, &v); err != nil {
		t.Fatalf("value %s is not a number: %v", d.Value, err)
	}
	return v
}

// decode renders chart and decodes its echarts option.
func decode(t *testing.T, chart Chart) option {
	t.Helper()
	raw := chart.RenderSnippet().Option
	var o option
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		t.Fatalf("option is not JSON: %v\n%.500s", err, raw)
	}
	return o
}

// titles returns the option's titles, whether one object or a list.
func (o option) titles(t *testing.T) []title {
	t.Helper()
	var list []title
	if json.Unmarshal(o.Title, &list) == nil {
		return list
	}
	var one title
	if err := json.Unmarshal(o.Title, &one); err != nil {
		t.Fatalf("title %s: %v", o.Title, err)
	}
	return []title{one}
}

func names(ss []series) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*max(1, math.Abs(b)) }

func curve(values ...float64) []Point {
	var ps []Point
	for i, v := range values {
		ps = append(ps, Point{Step: 10 * i, Value: v})
	}
	return ps
}

func TestLossCurvesOptions(t *testing.T) {
	runs := []Run{
		{Name: "a", Train: curve(4, 3, 2.5, 2, 1.8), Valid: curve(4.1, 2.9)},
		{Name: "b", Train: curve(4, 3.5, math.NaN(), 0, 2.8)},
	}
	o := decode(t, LossCurves(runs, LossOptions{Title: "runs", Smoothing: 0.5, LogY: true}))
	if got := o.titles(t)[0].Text; got != "runs" {
		t.Errorf("title %q", got)
	}
	if o.XAxis[0].Type != "value" || o.XAxis[0].Name != "step" {
		t.Errorf("x axis %+v, want a value axis named step", o.XAxis[0])
	}
	if o.YAxis[0].Type != "log" {
		t.Errorf("y axis type %q, want log", o.YAxis[0].Type)
	}
	want := []string{"a · train", "a · train", "a · valid", "b · train", "b · train"}
	if got := names(o.Series); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("series %q, want %q", got, want)
	}
	smoothed, raw, valid := o.Series[0], o.Series[1], o.Series[2]
	wantSmooth := Smooth(runs[0].Train, 0.5)
	for i, d := range smoothed.Data {
		if v := d.pair(t); v[0] != float64(wantSmooth[i].Step) || !near(v[1], wantSmooth[i].Value, 1e-5) {
			t.Errorf("smoothed point %d = %v, want %+v", i, v, wantSmooth[i])
		}
	}
	if raw.LineStyle.Opacity != 0.25 || smoothed.LineStyle.Opacity != 1 {
		t.Errorf("opacities: raw %v smoothed %v, want 0.25 and 1", raw.LineStyle.Opacity, smoothed.LineStyle.Opacity)
	}
	if v := raw.Data[2].pair(t); v != [2]float64{20, 2.5} {
		t.Errorf("raw point 2 = %v, want [20 2.5]", v)
	}
	if valid.LineStyle.Type != "dashed" || valid.LineStyle.Color != smoothed.LineStyle.Color {
		t.Errorf("valid line %+v: want dashed in the run's colour %s", valid.LineStyle, smoothed.LineStyle.Color)
	}
	if o.Series[3].LineStyle.Color == smoothed.LineStyle.Color {
		t.Errorf("runs a and b share the colour %s", smoothed.LineStyle.Color)
	}
	// Run b's NaN and (on a log axis) its 0 cannot be drawn.
	if got := len(o.Series[4].Data); got != 3 {
		t.Errorf("run b raw has %d points, want 3 (NaN and 0 left out on a log axis)", got)
	}
}

func TestLossCurvesSingleRun(t *testing.T) {
	o := decode(t, LossCurves([]Run{{Train: curve(3, 2, 1), Valid: curve(3)}}, LossOptions{}))
	if got := names(o.Series); strings.Join(got, "|") != "train|valid" {
		t.Errorf("series %q, want train and valid", got)
	}
	if o.Series[0].LineStyle.Color == o.Series[1].LineStyle.Color {
		t.Errorf("a single run's train and valid curves share the colour %s", o.Series[0].LineStyle.Color)
	}
	if o.YAxis[0].Type != "value" || o.titles(t)[0].Text != "loss" {
		t.Errorf("y axis %q title %q, want value and loss", o.YAxis[0].Type, o.titles(t)[0].Text)
	}
}

func TestLossCurvesThinsLongRuns(t *testing.T) {
	var train []Point
	for i := range 10_000 {
		train = append(train, Point{Step: i, Value: 1 / float64(i+1)})
	}
	o := decode(t, LossCurves([]Run{{Train: train}}, LossOptions{}))
	data := o.Series[0].Data
	if len(data) > maxPoints+1 || len(data) < maxPoints/2 {
		t.Errorf("%d points drawn, want about %d", len(data), maxPoints)
	}
	if last := data[len(data)-1].pair(t); last[0] != 9999 {
		t.Errorf("last point drawn is step %v, want 9999", last[0])
	}
}

func TestSmooth(t *testing.T) {
	got := Smooth(curve(1, 3, math.Inf(1), 5), 0.5)
	want := []float64{1, (0.25 + 1.5) / 0.75, (0.5*1.75 + 2.5) / 0.875}
	if len(got) != len(want) {
		t.Fatalf("Smooth gave %d points, want %d (infinity skipped)", len(got), len(want))
	}
	for i := range want {
		if !near(got[i].Value, want[i], 1e-12) {
			t.Errorf("point %d = %v, want %v", i, got[i].Value, want[i])
		}
	}
	if got[2].Step != 30 {
		t.Errorf("third point at step %d, want 30", got[2].Step)
	}
	for _, p := range Smooth(curve(2, 2, 2), 0.9) {
		if !near(p.Value, 2, 1e-12) {
			t.Errorf("a constant curve smooths to %v (debiasing broken)", p.Value)
		}
	}
}

func TestLRSchedule(t *testing.T) {
	warmupCosine := func(step int) float64 {
		if step < 10 {
			return 1e-3 * float64(step+1) / 10
		}
		return 1e-3 * 0.5 * (1 + math.Cos(math.Pi*float64(step-10)/90))
	}
	o := decode(t, LRSchedule(warmupCosine, 100, ""))
	data := o.Series[0].Data
	if len(data) != 100 {
		t.Fatalf("%d points for 100 steps", len(data))
	}
	for _, i := range []int{0, 9, 10, 99} {
		if v := data[i].pair(t); v[0] != float64(i) || !near(v[1], warmupCosine(i), 1e-5) {
			t.Errorf("point %d = %v, want [%d %v]", i, v, i, warmupCosine(i))
		}
	}
	if o.titles(t)[0].Text != "learning rate" || o.XAxis[0].Name != "step" || o.YAxis[0].Name != "lr" {
		t.Errorf("title %q axes %q %q", o.titles(t)[0].Text, o.XAxis[0].Name, o.YAxis[0].Name)
	}
	long := decode(t, LRSchedule(func(int) float64 { return 1 }, 4999, "constant")).Series[0].Data
	if len(long) > lrSamples+1 {
		t.Errorf("%d points drawn for 4,999 steps, want at most %d", len(long), lrSamples+1)
	}
	if last := long[len(long)-1].pair(t); last[0] != 4998 {
		t.Errorf("last point at step %v, want 4998", last[0])
	}
}

func TestAttentionOptions(t *testing.T) {
	w := [][]float32{{1, 0, 0}, {0.25, 0.75, 0}, {0.1, 0.2, 0.7}}
	c, err := Attention(w, []string{"the", "cat", "sat"}, "layer 0 head 1")
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, c)
	if got := strings.Join(o.XAxis[0].Data, " "); got != "the cat sat" {
		t.Errorf("x labels %q", got)
	}
	if got := strings.Join(o.YAxis[0].Data, " "); got != "the cat sat" || !o.YAxis[0].Inverse {
		t.Errorf("y labels %q inverse %v: want the tokens, first at the top", got, o.YAxis[0].Inverse)
	}
	if o.XAxis[0].AxisLabel.Interval != 0.0 || o.YAxis[0].AxisLabel.Interval != 0.0 {
		t.Errorf("label intervals %#v %#v, want the number 0 (every label)", o.XAxis[0].AxisLabel.Interval, o.YAxis[0].AxisLabel.Interval)
	}
	if o.XAxis[0].Name != "key" || o.YAxis[0].Name != "query" {
		t.Errorf("axis names %q %q", o.XAxis[0].Name, o.YAxis[0].Name)
	}
	if len(o.VisualMap) != 1 || o.VisualMap[0].Min != 0 || o.VisualMap[0].Max != 1 {
		t.Errorf("visual map %+v, want [0, 1]", o.VisualMap)
	}
	cells := o.Series[0].Data
	if len(cells) != 9 {
		t.Fatalf("%d cells, want 9", len(cells))
	}
	for _, d := range cells {
		var v [3]float64
		if err := json.Unmarshal(d.Value, &v); err != nil {
			t.Fatal(err)
		}
		if k, q := int(v[0]), int(v[1]); !near(v[2], float64(w[q][k]), 1e-6) {
			t.Errorf("cell key %d query %d = %v, want %v", k, q, v[2], w[q][k])
		}
	}
	if _, err := Attention(w, []string{"a", "b"}, ""); err == nil || !strings.Contains(err.Error(), "2 labels for 3 tokens") {
		t.Errorf("two labels for three tokens: error %v", err)
	}
	if _, err := Attention([][]float32{{1, 0}, {1}}, nil, ""); err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("ragged weights: error %v", err)
	}
	o = decode(t, must(Attention(w, nil, "")))
	if got := strings.Join(o.XAxis[0].Data, " "); got != "0 1 2" {
		t.Errorf("default labels %q, want positions", got)
	}
}

func TestAttentionGridOptions(t *testing.T) {
	const layers, heads, n = 2, 3, 4
	w := make([][][][]float32, layers)
	for l := range w {
		w[l] = make([][][]float32, heads)
		for h := range w[l] {
			w[l][h] = make([][]float32, n)
			for q := range n {
				w[l][h][q] = make([]float32, n)
				w[l][h][q][(q+l+h)%n] = 1
			}
		}
	}
	labels := []string{"a", "b", "c", "d"}
	o := decode(t, must(AttentionGrid(w, labels, "grid")))
	if len(o.Grid) != layers*heads || len(o.XAxis) != layers*heads || len(o.YAxis) != layers*heads || len(o.Series) != layers*heads {
		t.Fatalf("%d grids, %d x axes, %d y axes, %d series; want %d of each", len(o.Grid), len(o.XAxis), len(o.YAxis), len(o.Series), layers*heads)
	}
	for l := range layers {
		for h := range heads {
			i := l*heads + h
			s, x, y := o.Series[i], o.XAxis[i], o.YAxis[i]
			if s.Name != fmt.Sprintf("layer %d head %d", l, h) || s.XAxisIndex != i || s.YAxisIndex != i {
				t.Errorf("series %d: %q on axes %d/%d", i, s.Name, s.XAxisIndex, s.YAxisIndex)
			}
			if x.GridIndex != i || y.GridIndex != i || strings.Join(x.Data, "") != "abcd" || !y.Inverse {
				t.Errorf("axes %d: grid %d/%d labels %q inverse %v", i, x.GridIndex, y.GridIndex, x.Data, y.Inverse)
			}
			if *x.Show != (l == layers-1) || *y.Show != (h == 0) {
				t.Errorf("axes %d: x shown %v, y shown %v; want labels on the bottom row and left column", i, *x.Show, *y.Show)
			}
			if wantName := map[bool]string{true: fmt.Sprintf("layer %d", l)}[h == 0]; y.Name != wantName {
				t.Errorf("y axis %d named %q, want %q", i, y.Name, wantName)
			}
			for _, d := range s.Data {
				var v [3]float64
				json.Unmarshal(d.Value, &v)
				if k, q := int(v[0]), int(v[1]); float32(v[2]) != w[l][h][q][k] {
					t.Errorf("layer %d head %d cell %d,%d = %v, want %v", l, h, k, q, v[2], w[l][h][q][k])
				}
			}
		}
	}
	if got := o.XAxis[0].AxisLabel.Interval; got != 0.0 {
		t.Errorf("grid label interval %#v, want the number 0: 4 labels fit", got)
	}
	titles := o.titles(t)
	if len(titles) != 1+heads || titles[0].Text != "grid" || titles[3].Text != "head 2" {
		t.Errorf("titles %+v, want the chart's then one per head", titles)
	}
	if titles[0].Subtext != "2 layers × 3 heads" {
		t.Errorf("subtitle %q", titles[0].Subtext)
	}
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	grid := [][][][]float32{make([][][]float32, 8)}
	for h := range grid[0] {
		grid[0][h] = causalPattern(40, 0, h)
	}
	// 8 cells of 92 pixels across: room for every fifth label at 10 pixels each.
	if got := decode(t, must(AttentionGrid(grid, many, ""))).XAxis[0].AxisLabel.Interval; got != 4.0 {
		t.Errorf("40 labels in a 92-pixel cell: label interval %#v, want the number 4 (every fifth label)", got)
	}
	w[1] = w[1][:2]
	if _, err := AttentionGrid(w, labels, ""); err == nil || !strings.Contains(err.Error(), "layer 1 has 2 heads") {
		t.Errorf("layers with different head counts: error %v", err)
	}
}

func TestTopTokensOptions(t *testing.T) {
	lp := math.Log
	steps := []browserStep{
		{chosen: 7, ids: []int32{7, 3, 9}, logProbs: []float64{lp(0.6), lp(0.3), lp(0.05)}},
		{chosen: 2, ids: []int32{5, 2, 1}, logProbs: []float64{lp(0.4), lp(0.2), lp(0.1)}},
	}
	word := map[int32]string{7: "cat", 3: "dog", 9: "cow", 2: "sat", 5: "ran", 1: "ate"}
	o := decode(t, TopTokens(steps, func(id int32) string { return word[id] }, ""))
	if got := strings.Join(names(o.Series), "|"); got != "rank 1|rank 2|rank 3|rest" {
		t.Fatalf("series %q", got)
	}
	if got := strings.Join(o.XAxis[0].Data, " "); got != "0:cat 1:sat" {
		t.Errorf("step labels %q, want step:chosen", got)
	}
	if o.titles(t)[0].Text != "top-3 next-token probabilities" {
		t.Errorf("title %q", o.titles(t)[0].Text)
	}
	for _, s := range o.Series {
		if s.Stack != "p" || s.Type != "bar" {
			t.Errorf("series %q: type %q stack %q, want stacked bars", s.Name, s.Type, s.Stack)
		}
	}
	if d := o.Series[1].Data[1]; d.Name != "sat" || !near(d.number(t), 0.2, 1e-6) {
		t.Errorf("step 1 rank 2 = %q %s, want sat 0.2", d.Name, d.Value)
	}
	if d := o.Series[3].Data[0]; !near(d.number(t), 0.05, 1e-6) {
		t.Errorf("step 0 rest = %s, want 0.05", d.Value)
	}
	if d := o.Series[2].Data[0]; d.Label == nil || d.Label.Show {
		t.Errorf("a 0.05 segment is labelled (%+v); its label cannot fit", d.Label)
	}
	if d := o.Series[0].Data[0]; d.Label != nil {
		t.Errorf("the 0.6 segment's label is hidden")
	}
	if o.YAxis[0].Name != "p" {
		t.Errorf("y axis %q", o.YAxis[0].Name)
	}
	if got := decode(t, TopTokens(steps, nil, "")).XAxis[0].Data[1]; got != "1:2" {
		t.Errorf("label without a token function %q, want ids", got)
	}
}

func TestPCA(t *testing.T) {
	// Four points: spread 2 along x, 1 along y (after a shift).
	vectors := [][]float32{{3, 1}, {1, 1}, {2, 1.5}, {2, 0.5}}
	points, explained, err := PCA(vectors)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]float64{{1, 0}, {-1, 0}, {0, 0.5}, {0, -0.5}}
	for i := range want {
		if !near(points[i][0], want[i][0], 1e-9) || !near(points[i][1], want[i][1], 1e-9) {
			t.Errorf("point %d = %v, want %v", i, points[i], want[i])
		}
	}
	if !near(explained[0], 0.8, 1e-9) || !near(explained[1], 0.2, 1e-9) {
		t.Errorf("explained %v, want [0.8 0.2]", explained)
	}
	if _, _, err := PCA([][]float64{{1, 2}, {3}}); err == nil || !strings.Contains(err.Error(), "vector 1 has 1 values") {
		t.Errorf("ragged vectors: error %v", err)
	}
	if _, _, err := PCA([][]float64{{1}}); err == nil {
		t.Errorf("one vector: no error")
	}
}

// TestPCAEigenvectors checks the power iteration on correlated random data
// in 6 dimensions: the components are orthogonal eigenvectors of the
// covariance, the first explaining at least as much as the second.
func TestPCAEigenvectors(t *testing.T) {
	seed := uint64(1)
	rnd := func() float64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return float64(seed>>11)/float64(1<<53) - 0.5
	}
	var vectors [][]float64
	for range 200 {
		a, b := rnd(), rnd()
		vectors = append(vectors, []float64{3 * a, 3*a + b, b, 0.1 * rnd(), a - 2*b, 0.2 * rnd()})
	}
	points, explained, err := PCA(vectors)
	if err != nil {
		t.Fatal(err)
	}
	if explained[0] < explained[1] || explained[0]+explained[1] < 0.99 || explained[0]+explained[1] > 1+1e-9 {
		t.Errorf("explained %v: two hidden factors should explain nearly all the variance, the first the most", explained)
	}
	var cross, var0, var1 float64
	for _, p := range points {
		cross += p[0] * p[1]
		var0 += p[0] * p[0]
		var1 += p[1] * p[1]
	}
	if math.Abs(cross) > 1e-6*math.Sqrt(var0*var1) {
		t.Errorf("projections correlate: Σ pc1·pc2 = %v", cross)
	}
	if var0 < var1 {
		t.Errorf("PC1 variance %v < PC2 variance %v", var0, var1)
	}
}

func TestEmbeddingsOptions(t *testing.T) {
	vectors := [][]float32{{3, 1}, {1, 1}, {2, 1.5}, {2, 0.5}}
	o := decode(t, must(Embeddings(vectors, []string{"king", "queen", "man", "woman"}, "")))
	if o.XAxis[0].Name != "PC1 (80.0%)" || o.YAxis[0].Name != "PC2 (20.0%)" {
		t.Errorf("axis names %q %q", o.XAxis[0].Name, o.YAxis[0].Name)
	}
	data := o.Series[0].Data
	if len(data) != 4 || data[1].Name != "queen" {
		t.Fatalf("data %+v", data)
	}
	if v := data[0].pair(t); !near(v[0], 1, 1e-6) || !near(v[1], 0, 1e-6) {
		t.Errorf("king at %v, want [1 0]", v)
	}
	if o.Series[0].Label == nil || !o.Series[0].Label.Show {
		t.Errorf("points are not labelled")
	}
	if _, err := Embeddings(vectors, []string{"a"}, ""); err == nil || !strings.Contains(err.Error(), "1 labels for 4 vectors") {
		t.Errorf("label count mismatch: error %v", err)
	}
}

func TestHistogramOptions(t *testing.T) {
	var values []float64
	for i := range 100 {
		values = append(values, float64(i))
	}
	values = append(values, math.NaN(), math.Inf(-1))
	o := decode(t, Histogram(values, 10, "weights"))
	data := o.Series[0].Data
	if len(data) != 10 || len(o.XAxis[0].Data) != 10 {
		t.Fatalf("%d bars, %d labels; want 10", len(data), len(o.XAxis[0].Data))
	}
	for i, d := range data {
		if d.number(t) != 10 {
			t.Errorf("bin %d holds %v, want 10", i, d.number(t))
		}
	}
	if o.XAxis[0].Data[0] != "4.95" || data[0].Name != "[0, 9.9)" {
		t.Errorf("first bin labelled %q named %q, want centre 4.95, range [0, 9.9)", o.XAxis[0].Data[0], data[0].Name)
	}
	sub := o.titles(t)[0].Subtext
	for _, want := range []string{"n = 100", "mean = 49.5", "range [0, 99]", "2 NaN or infinite left out"} {
		if !strings.Contains(sub, want) {
			t.Errorf("subtitle %q lacks %q", sub, want)
		}
	}
	if got := len(decode(t, Histogram([]float32{1, 2}, 0, "")).Series[0].Data); got != 50 {
		t.Errorf("bins 0 gave %d bins, want 50", got)
	}
	edges, counts, _ := histogram([]float32{2, 2, 2}, 3)
	if counts[1] != 3 || edges[0] != 1.5 || edges[3] != 2.5 {
		t.Errorf("equal values: edges %v counts %v, want all in the middle bin of [1.5, 2.5]", edges, counts)
	}
}

// liveUnderTest returns a LiveLoss that displays into a slice, on a clock the
// test moves.
func liveUnderTest(o LiveOptions) (*LiveLoss, *[]string, *time.Time) {
	l := NewLiveLoss(o)
	var shownHTML []string
	clock := time.Unix(0, 0)
	l.display = func(id, html string) {
		if id != l.id {
			panic("display id changed")
		}
		shownHTML = append(shownHTML, html)
	}
	l.now = func() time.Time { return clock }
	l.id = "test"
	return l, &shownHTML, &clock
}

func TestLiveLossThrottles(t *testing.T) {
	requireLocalECharts(t)
	shown.Store(false)
	l, draws, clock := liveUnderTest(LiveOptions{Interval: time.Second})
	for step := range 10 {
		l.OnMetrics(step, "train", "loss", 1/float64(step+1))
		l.OnMetrics(step, "train", "accuracy", 0.5) // another metric: ignored
		*clock = clock.Add(300 * time.Millisecond)
	}
	// Steps 0 (first value), 4 (1.2 s later) and 8 (1.2 s after that).
	if len(*draws) != 3 {
		t.Fatalf("%d redraws in 3 s at one per second, want 3", len(*draws))
	}
	if !strings.Contains((*draws)[0], wrappedLibrary) || strings.Contains((*draws)[1], wrappedLibrary) {
		t.Errorf("the first redraw must inline echarts and later ones must not")
	}
	l.OnMetrics(9, "valid", "loss", 0.2)
	l.OnMetrics(9, "test", "loss", 0.1) // another split: ignored
	l.Close()
	if len(*draws) != 4 || !strings.Contains((*draws)[3], wrappedLibrary) {
		t.Fatalf("Close did not draw a self-contained final state (%d draws)", len(*draws))
	}
	o := decode(t, l.Chart())
	if got := strings.Join(names(o.Series), "|"); got != "train|valid" || len(o.Series[0].Data) != 10 || len(o.Series[1].Data) != 1 {
		t.Errorf("final chart: series %q with %d and %d points, want 10 train and 1 valid", got, len(o.Series[0].Data), len(o.Series[1].Data))
	}

	// A live chart drawn after another chart brought the library relies on
	// the page, its final state included.
	l, draws, _ = liveUnderTest(LiveOptions{})
	l.OnMetrics(0, "train", "loss", 1)
	l.Close()
	if len(*draws) != 2 || strings.Contains((*draws)[0], wrappedLibrary) || strings.Contains((*draws)[1], wrappedLibrary) {
		t.Errorf("a live chart after the library reached the page inlines it again (%d draws)", len(*draws))
	}

	l, draws, clock = liveUnderTest(LiveOptions{Interval: time.Nanosecond, Steps: 5})
	for step := range 12 {
		*clock = clock.Add(time.Second)
		l.OnMetrics(step, "train", "loss", 1)
	}
	if len(*draws) != 3 { // steps 0, 5 and 10
		t.Errorf("%d redraws over 12 steps at one per 5 steps, want 3", len(*draws))
	}
}

func TestLiveLossOutsideNotebook(t *testing.T) {
	l := NewLiveLoss(LiveOptions{})
	if l.display != nil {
		t.Skip("running inside a notebook")
	}
	for step := range 3 {
		l.OnMetrics(step, "train", "loss", float64(3-step))
	}
	l.Close()
	if got := len(decode(t, l.Chart()).Series[0].Data); got != 3 {
		t.Errorf("outside a notebook the chart holds %d points, want 3", got)
	}
	empty, draws, _ := liveUnderTest(LiveOptions{})
	empty.Close()
	if len(*draws) != 0 {
		t.Errorf("Close with nothing recorded drew a chart")
	}
}

func must[C any](c C, err error) C {
	if err != nil {
		panic(err)
	}
	return c
}

// TestLiveLossConcurrent reports from several goroutines, as a trainer with
// a background evaluation might; run with -race.
func TestLiveLossConcurrent(t *testing.T) {
	l, draws, _ := liveUnderTest(LiveOptions{Interval: time.Nanosecond})
	l.now = time.Now
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for s := range 50 {
				l.OnMetrics(s, []string{"train", "valid"}[g%2], "loss", 1)
			}
		})
	}
	wg.Wait()
	l.Close()
	o := decode(t, l.Chart())
	if len(o.Series[0].Data) != 100 || len(o.Series[1].Data) != 100 || len(*draws) == 0 {
		t.Errorf("%d train and %d valid points, %d draws; want 100, 100 and some", len(o.Series[0].Data), len(o.Series[1].Data), len(*draws))
	}
}

func TestPlacementOptions(t *testing.T) {
	weights := []string{"wte.weight", "ln_f.weight"}
	devices := []string{"0", "1", "2", "3"}
	share := [][]float64{{0.25, 0.25, 0.25, 0.25}, {1, 1, 1, 1}}
	slices := [][]string{{"rows 0-24", "rows 24-48", "rows 48-72", "rows 72-96"}, {"all", "all", "all", "all"}}
	o := decode(t, must(Placement(weights, devices, share, slices, "who holds what")))
	if len(o.Series) != 1 || len(o.Series[0].Data) != 8 {
		t.Fatalf("series %+v, want one with 8 cells", o.Series)
	}
	if got := o.YAxis[0].Data; len(got) != 2 || got[0] != "wte.weight" {
		t.Errorf("rows %v, want the weights", got)
	}
	if d := o.Series[0].Data[1]; d.Name != "rows 24-48" || strings.TrimSpace(string(d.Value)) != "[1,0,0.25]" {
		t.Errorf("cell (device 1, wte) = %s %q, want [1,0,0.25] with its slice", d.Value, d.Name)
	}
	if _, err := Placement(weights, devices, share[:1], nil, ""); err == nil {
		t.Error("Placement with one row of shares for two weights: no error")
	}
	if _, err := Placement(weights, devices[:3], share, nil, ""); err == nil {
		t.Error("Placement with 4 shares per row for 3 devices: no error")
	}
}

func TestExpertRoutingOptions(t *testing.T) {
	tokens := []string{"The", " cat"}
	experts := [][]int{{2, 0}, {1, 3}}
	weights := [][]float32{{0.75, 0.25}, {0.5, 0.5}}
	o := decode(t, must(ExpertRouting(tokens, experts, weights, 4, "layer 0")))
	if len(o.Series) != 1 || len(o.Series[0].Data) != 8 {
		t.Fatalf("series %+v, want one with 8 cells (2 tokens × 4 experts)", o.Series)
	}
	if got := o.XAxis[0].Data; len(got) != 4 || got[3] != "expert 3" {
		t.Errorf("columns %v, want expert 0 … expert 3", got)
	}
	cell := func(tok, e int) string { return strings.TrimSpace(string(o.Series[0].Data[tok*4+e].Value)) }
	if cell(0, 2) != "[2,0,0.75]" || cell(0, 0) != "[0,0,0.25]" || cell(0, 1) != "[1,0,0]" || cell(1, 3) != "[3,1,0.5]" {
		t.Errorf("cells (The: e0 %s e1 %s e2 %s; cat: e3 %s), want the router's weights and 0 where not chosen", cell(0, 0), cell(0, 1), cell(0, 2), cell(1, 3))
	}
	if d := o.Series[0].Data[2]; !strings.Contains(d.Name, "expert 2: choice 1, weight 0.750") {
		t.Errorf("tooltip %q, want the choice's rank and weight", d.Name)
	}
	for _, bad := range []struct {
		name    string
		experts [][]int
		weights [][]float32
	}{
		{"a row short", experts[:1], weights},
		{"expert out of range", [][]int{{2, 4}, {1, 3}}, weights},
		{"weights short", experts, [][]float32{{1}, {0.5, 0.5}}},
	} {
		if _, err := ExpertRouting(tokens, bad.experts, bad.weights, 4, ""); err == nil {
			t.Errorf("%s: no error", bad.name)
		}
	}
}

func TestLayerMapOptions(t *testing.T) {
	layers := []string{"layer 0", "layer 1"}
	tokens := []string{"The", " cat", " sat"}
	values := [][]float64{{0.1, 0.5, 0.9}, {0.2, 0.4, 1}}
	o := decode(t, must(LayerMap(layers, tokens, values, [][]string{{"a", "b", "c"}, {"d", "e", "f"}}, "lens", "")))
	if len(o.Series) != 1 || len(o.Series[0].Data) != 6 {
		t.Fatalf("series %+v, want one with 6 cells", o.Series)
	}
	if d := o.Series[0].Data[5]; d.Name != "f" || strings.TrimSpace(string(d.Value)) != "[2,1,1]" {
		t.Errorf("cell (layer 1, sat) = %s %q, want [2,1,1] named f", d.Value, d.Name)
	}
	o = decode(t, must(LayerMap(layers, tokens, values, nil, "patching", "")))
	if d := o.Series[0].Data[1]; !strings.Contains(d.Name, "layer 0,  cat: 0.500") {
		t.Errorf("tooltip %q, want the layer, the token and the value", d.Name)
	}
	if _, err := LayerMap(layers, tokens, values, [][]string{{"a"}}, "", ""); err == nil {
		t.Error("one row of text for two layers: no error")
	}
	if _, err := LayerMap(layers, tokens, [][]float64{{1, 2, 3}, {1}}, nil, "", ""); err == nil {
		t.Error("a short row of values: no error")
	}
}

func TestBlockPatternOptions(t *testing.T) {
	o := decode(t, must(BlockPattern([][]bool{{true, false}, {true, true}}, "causal")))
	if len(o.Series[0].Data) != 4 || strings.TrimSpace(string(o.Series[0].Data[1].Value)) != "[1,0,0]" {
		t.Errorf("cells %+v, want (q0, k1) skipped", o.Series[0].Data)
	}
	if d := o.Series[0].Data[3]; strings.TrimSpace(string(d.Value)) != "[1,1,1]" || !strings.Contains(d.Name, "computed") {
		t.Errorf("cell (q1, k1) = %s %q, want computed", d.Value, d.Name)
	}
	if _, err := BlockPattern([][]bool{{true}, {true, true}}, ""); err == nil {
		t.Error("ragged pattern: no error")
	}
}

func TestGroupedBarsOptions(t *testing.T) {
	o := decode(t, must(GroupedBars([]string{"device 0", "device 1"},
		[]BarSeries{{"data", []float64{100, 100}}, {"fsdp", []float64{25, 25}}}, "bytes per device", "MB")))
	if got := names(o.Series); len(got) != 2 || got[0] != "data" || got[1] != "fsdp" {
		t.Fatalf("series %v, want data and fsdp", got)
	}
	if v := o.Series[1].Data[0].number(t); v != 25 {
		t.Errorf("fsdp on device 0 = %v, want 25", v)
	}
	if _, err := GroupedBars([]string{"a"}, []BarSeries{{"x", []float64{1, 2}}}, "", ""); err == nil {
		t.Error("a series with more values than categories: no error")
	}
}

func TestSimilarityOptions(t *testing.T) {
	m := [][]float32{{1, 0.8, -0.15}, {0.8, 1, 0.1}, {-0.15, 0.1, 1}}
	c, err := Similarity(m, []string{"cat on mat", "cat on rug", "stock prices"}, "")
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, c)
	if got := strings.Join(o.YAxis[0].Data, " | "); got != "cat on mat | cat on rug | stock prices" || !o.YAxis[0].Inverse {
		t.Errorf("y labels %q inverse %v: want the items, first at the top", got, o.YAxis[0].Inverse)
	}
	if len(o.VisualMap) != 1 || !near(o.VisualMap[0].Min, -0.2, 1e-6) || o.VisualMap[0].Max != 1 {
		t.Errorf("visual map %+v, want [-0.2, 1]: from below the smallest similarity to 1", o.VisualMap)
	}
	if len(o.Series[0].Data) != 9 {
		t.Errorf("%d cells, want 9", len(o.Series[0].Data))
	}
	if _, err := Similarity([][]float32{{1, float32(math.NaN())}, {0, 1}}, nil, ""); err == nil || !strings.Contains(err.Error(), "m[0][1]") {
		t.Errorf("NaN similarity: error %v", err)
	}
}
