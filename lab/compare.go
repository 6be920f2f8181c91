package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/viz"
)

// RunSummary is what a run folder records, as ReadRun reads it back.
type RunSummary struct {
	// Dir is the run folder, Experiment and ID its parent's name and its
	// own (runs/<experiment>/<run-id>).
	Dir, Experiment, ID string
	// Config is config.json with nested objects flattened to dotted keys.
	Config map[string]any
	Env    Env
	// Steps is the number of training steps logged (the last step + 1).
	Steps int
	// FinalVal and BestVal are the last and the lowest validation losses
	// (NaN when none was logged); BestValStep is where the lowest was.
	FinalVal, BestVal float64
	BestValStep       int
	// TokensPerSec is the median of the training steps' tokens per second,
	// which the first step's compilation barely moves (0 when none was
	// logged).
	TokensPerSec float64
	// WallTime runs from env.json's start to the last metrics line; for a
	// run stopped and resumed it includes the pause (0 when unknown).
	WallTime time.Duration
	// Train and Val are the training and validation loss curves, by step.
	Train, Val []viz.Point
}

// ReadRun reads the run folder dir: config.json, env.json and
// metrics.jsonl. A last metrics line cut short (a run killed while writing
// it) is left out; any other line that does not parse is an error naming
// the file and line.
func ReadRun(dir string) (*RunSummary, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &RunSummary{Dir: dir, ID: filepath.Base(abs), Experiment: filepath.Base(filepath.Dir(abs)),
		FinalVal: math.NaN(), BestVal: math.NaN()}
	var config map[string]any
	if err := readJSON(filepath.Join(dir, "config.json"), &config); err != nil {
		return nil, err
	}
	s.Config = map[string]any{}
	flatten("", config, s.Config)
	if err := readJSON(filepath.Join(dir, "env.json"), &s.Env); err != nil {
		return nil, err
	}
	lines, err := readMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	train, val, speed := map[int]float64{}, map[int]float64{}, map[int]float64{}
	var last time.Time
	for _, m := range lines {
		switch m.Split {
		case "train":
			train[m.Step] = float64(m.Loss) // a step logged twice (resumed from an older checkpoint): the later line wins
			s.Steps = max(s.Steps, m.Step+1)
			speed[m.Step] = float64(m.TokensPerSec)
		case "val":
			val[m.Step] = float64(m.Loss)
		}
		if t, err := time.Parse(time.RFC3339Nano, m.Time); err == nil && t.After(last) {
			last = t
		}
	}
	s.Train, s.Val = curve(train), curve(val)
	for _, p := range s.Val {
		if math.IsNaN(s.BestVal) || p.Value < s.BestVal {
			s.BestVal, s.BestValStep = p.Value, p.Step
		}
	}
	if n := len(s.Val); n > 0 {
		s.FinalVal = s.Val[n-1].Value
	}
	var speeds []float64
	for _, v := range speed {
		if v > 0 {
			speeds = append(speeds, v)
		}
	}
	if len(speeds) > 0 {
		sort.Float64s(speeds)
		s.TokensPerSec = speeds[len(speeds)/2]
		if len(speeds)%2 == 0 {
			s.TokensPerSec = (speeds[len(speeds)/2-1] + speeds[len(speeds)/2]) / 2
		}
	}
	if start, err := time.Parse(time.RFC3339, s.Env.Started); err == nil && !last.IsZero() && last.After(start) {
		s.WallTime = last.Sub(start)
	}
	return s, nil
}

// readJSON decodes the JSON file path into v.
func readJSON(path string, v any) error {
	data, err := files.ReadFile(path, files.ConfigLimit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readMetrics reads metrics.jsonl.
func readMetrics(path string) ([]metricsLine, error) {
	data, err := files.ReadFile(path, metricsLimit)
	if err != nil {
		return nil, err
	}
	rows := bytes.Split(data, []byte("\n"))
	var lines []metricsLine
	for i, row := range rows {
		if len(bytes.TrimSpace(row)) == 0 {
			continue
		}
		var m metricsLine
		if err := json.Unmarshal(row, &m); err != nil {
			if i == len(rows)-1 { // no newline after it: cut short by a kill
				break
			}
			return nil, fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
		lines = append(lines, m)
	}
	return lines, nil
}

// curve returns the points of byStep in step order.
func curve(byStep map[int]float64) []viz.Point {
	points := make([]viz.Point, 0, len(byStep))
	for step, v := range byStep {
		points = append(points, viz.Point{Step: step, Value: v})
	}
	sort.Slice(points, func(i, j int) bool { return points[i].Step < points[j].Step })
	return points
}

// flatten copies the JSON object v into out under dotted keys.
func flatten(prefix string, v any, out map[string]any) {
	obj, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, sub := range obj {
		if prefix != "" {
			k = prefix + "." + k
		}
		flatten(k, sub, out)
	}
}

// FindRuns returns the run folders under root — folders holding a
// metrics.jsonl, root itself included — in path order. It does not look
// inside a run folder or into hidden folders.
func FindRuns(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if info, err := os.Stat(filepath.Join(path, "metrics.jsonl")); err == nil && !info.IsDir() {
			dirs = append(dirs, path)
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finding runs: %w", err)
	}
	return dirs, nil
}

// Comparison is several runs side by side: made by Compare, printed with
// Table, drawn with Chart or WriteHTML.
type Comparison struct {
	Runs []*RunSummary
	// Labels name the runs in the table and the chart: the run id, or
	// experiment/run-id when the runs come from several experiments (the
	// folder itself when that is still ambiguous).
	Labels []string
	// Differences are the settings whose values are not the same in every
	// run, sorted: config.json keys, then env.json's (prefixed "env.") that
	// bear on speed or results — backend, SIMD, GOMAXPROCS, CPU, Go version,
	// commit — unless config.json has the same key.
	Differences []string
}

// envKeys are the env.json fields Compare reports when they differ.
var envKeys = []string{"backend", "simd", "gomaxprocs", "cpu", "go_version", "commit"}

// Compare reads the run folders dirs; a folder that is not a run folder
// stands for every run folder under it (see FindRuns), so
// Compare("runs/shakespeare_char") compares all that experiment's runs.
func Compare(dirs ...string) (*Comparison, error) {
	var runDirs []string
	for _, dir := range dirs {
		if info, err := os.Stat(filepath.Join(dir, "metrics.jsonl")); err == nil && !info.IsDir() {
			runDirs = append(runDirs, dir)
			continue
		}
		found, err := FindRuns(dir)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("compare: %s holds no run folder (no metrics.jsonl in it or below it)", dir)
		}
		runDirs = append(runDirs, found...)
	}
	if len(runDirs) == 0 {
		return nil, errors.New("compare: no run folders given")
	}
	c := &Comparison{}
	for _, dir := range runDirs {
		s, err := ReadRun(dir)
		if err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		c.Runs = append(c.Runs, s)
	}
	c.Labels = labels(c.Runs)
	c.Differences = differences(c.Runs)
	return c, nil
}

// labels names each run by its id, by experiment/id when experiments
// differ, and by its folder when that is still ambiguous.
func labels(runs []*RunSummary) []string {
	out := make([]string, len(runs))
	for _, qualified := range []bool{false, true} {
		seen := map[string]bool{}
		unique := true
		for i, r := range runs {
			out[i] = r.ID
			if qualified {
				out[i] = r.Experiment + "/" + r.ID
			}
			unique = unique && !seen[out[i]]
			seen[out[i]] = true
		}
		if unique && (qualified || sameExperiment(runs)) {
			return out
		}
	}
	for i, r := range runs {
		out[i] = r.Dir
	}
	return out
}

func sameExperiment(runs []*RunSummary) bool {
	for _, r := range runs {
		if r.Experiment != runs[0].Experiment {
			return false
		}
	}
	return true
}

// differences returns the settings whose values are not all the same.
func differences(runs []*RunSummary) []string {
	keys := map[string]bool{}
	for _, r := range runs {
		for k := range r.Config {
			keys[k] = true
		}
	}
	var diff []string
	for k := range keys {
		if !allSame(runs, func(r *RunSummary) string { return configValue(r, k) }) {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	for _, k := range envKeys {
		if keys[k] {
			continue
		}
		if !allSame(runs, func(r *RunSummary) string { return envValue(r, k) }) {
			diff = append(diff, "env."+k)
		}
	}
	return diff
}

func allSame(runs []*RunSummary, value func(*RunSummary) string) bool {
	for _, r := range runs[1:] {
		if value(r) != value(runs[0]) {
			return false
		}
	}
	return true
}

// configValue formats the setting key of run r ("—" when r lacks it).
func configValue(r *RunSummary, key string) string {
	v, ok := r.Config[key]
	if !ok {
		return "—"
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	data, _ := json.Marshal(v)
	return string(data)
}

// envValue formats env.json's field key of run r.
func envValue(r *RunSummary, key string) string {
	e := r.Env
	switch key {
	case "backend":
		return e.Backend
	case "simd":
		return strconv.FormatBool(e.SIMD)
	case "gomaxprocs":
		return strconv.Itoa(e.GOMAXPROCS)
	case "cpu":
		return e.CPU
	case "go_version":
		return e.GoVersion
	case "commit":
		c := e.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if e.Modified {
			c += "+modified"
		}
		return c
	}
	return ""
}

// value formats setting key (a Differences entry) of run r.
func value(r *RunSummary, key string) string {
	if k, ok := strings.CutPrefix(key, "env."); ok {
		if _, inConfig := r.Config[key]; !inConfig {
			return envValue(r, k)
		}
	}
	return configValue(r, key)
}

// Table is rows of text under a header, printed with Text or Markdown.
type Table struct {
	Header []string
	Rows   [][]string
}

// Table returns one row per run: its label, the settings that differ
// between the runs, the steps, the final and best validation loss (with
// the best one's step), the median tokens per second and the wall time.
func (c *Comparison) Table() *Table {
	t := &Table{Header: append(append([]string{"run"}, c.Differences...),
		"steps", "final val", "best val", "tokens/s", "wall time")}
	for i, r := range c.Runs {
		row := []string{c.Labels[i]}
		for _, k := range c.Differences {
			row = append(row, value(r, k))
		}
		best := loss(r.BestVal)
		if !math.IsNaN(r.BestVal) {
			best += fmt.Sprintf(" @%d", r.BestValStep)
		}
		row = append(row, strconv.Itoa(r.Steps), loss(r.FinalVal), best, speed(r.TokensPerSec), wall(r.WallTime))
		t.Rows = append(t.Rows, row)
	}
	return t
}

func loss(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.4f", v)
}

func speed(v float64) string {
	if v <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", v)
}

func wall(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Text returns the table as aligned plain-text columns.
func (t *Table) Text() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, row := range append([][]string{t.Header}, t.Rows...) {
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	w.Flush()
	return b.String()
}

// Markdown returns the table as a GitHub-flavoured Markdown table.
func (t *Table) Markdown() string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
	line(t.Header)
	rule := make([]string, len(t.Header))
	for i := range rule {
		rule[i] = "---"
	}
	line(rule)
	for _, row := range t.Rows {
		line(row)
	}
	return b.String()
}

// HTML returns the table as an HTML table, its text escaped.
func (t *Table) HTML() viz.HTML {
	var b strings.Builder
	b.WriteString(`<table style="border-collapse:collapse;font:13px sans-serif;margin:16px auto">` + "\n<tr>")
	for _, h := range t.Header {
		fmt.Fprintf(&b, `<th style="border-bottom:2px solid #999;padding:4px 10px;text-align:left">%s</th>`, html.EscapeString(h))
	}
	b.WriteString("</tr>\n")
	for _, row := range t.Rows {
		b.WriteString("<tr>")
		for _, c := range row {
			fmt.Fprintf(&b, `<td style="border-bottom:1px solid #ddd;padding:4px 10px">%s</td>`, html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
	return viz.HTML(b.String())
}

// Chart draws every run's training loss (smoothed, the measured values
// faint behind) and validation loss (dashed, a marker per evaluation) on one
// chart, a colour per run.
func (c *Comparison) Chart(title string) *charts.Line {
	runs := make([]viz.Run, len(c.Runs))
	for i, r := range c.Runs {
		runs[i] = viz.Run{Name: c.Labels[i], Train: r.Train, Valid: r.Val}
	}
	return viz.LossCurves(runs, viz.LossOptions{Title: title, Smoothing: 0.9})
}

// WriteHTML writes the comparison as a standalone page at path: a heading,
// the table and the loss chart, with the echarts library beside it (see
// SaveHTML; the file is written to a temporary name and renamed).
func (c *Comparison) WriteHTML(path, title string) error {
	heading := viz.HTML(fmt.Sprintf(`<h2 style="font:bold 18px sans-serif;text-align:center">%s</h2>`, html.EscapeString(title)))
	if err := SaveHTML(path, title, heading, c.Table().HTML(), c.Chart(title+": loss")); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}
