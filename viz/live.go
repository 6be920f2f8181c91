package viz

import (
	"strings"
	"sync"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/janpfeifer/gonb/gonbui"
)

// LiveOptions controls a LiveLoss chart.
type LiveOptions struct {
	LossOptions
	// Metric is the metric name drawn; "loss" when empty. Other names are
	// ignored.
	Metric string
	// Interval is the least time between two redraws; 500 ms when zero.
	Interval time.Duration
	// Steps is the least number of steps between two redraws (0: any).
	Steps int
}

// LiveLoss is a loss chart that redraws itself in place, in the output of
// the GoNB notebook cell that runs the training, as metrics arrive.
//
// It is a training loop's metrics callback: the trainer calls OnMetrics
// with each measured value and Close when training ends. Redraws are
// throttled (LiveOptions.Interval and Steps) so that they cost little;
// Close draws the final state, which is what the saved notebook keeps.
// Outside a notebook it only records the values (Chart still draws them).
// Its methods may be called from any goroutine.
type LiveLoss struct {
	opts LiveOptions

	mu       sync.Mutex
	run      Run
	dirty    bool      // values arrived since the last redraw
	drawn    bool      // a redraw has happened
	lastDraw time.Time // when, and at which step
	lastStep int
	carrier  bool // this output brought the library into the page

	// display shows html in the output block id (gonbui.UpdateHTML in a
	// notebook, nil outside one); now reads the clock. Tests replace both.
	display func(id, html string)
	now     func() time.Time
	id      string
}

// NewLiveLoss returns a live loss chart. Nothing is drawn until the first
// value arrives.
func NewLiveLoss(o LiveOptions) *LiveLoss {
	if o.Metric == "" {
		o.Metric = "loss"
	}
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	l := &LiveLoss{opts: o, now: time.Now}
	if gonbui.IsNotebook {
		l.display = gonbui.UpdateHTML
		l.id = "trustformers-viz-live-" + gonbui.UniqueId()
	}
	return l
}

// OnMetrics records one measurement: value of metric name on split ("train",
// or "valid"/"validation"/"eval" for the validation curve) after step. It is
// the method a trainer's metrics callback calls. Other metrics and splits
// are ignored. It redraws the chart when the last redraw is at least
// Interval old and Steps steps back.
func (l *LiveLoss) OnMetrics(step int, split, name string, value float64) {
	if name != l.opts.Metric {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := Point{Step: step, Value: value}
	switch strings.ToLower(split) {
	case "train", "training":
		l.run.Train = append(l.run.Train, p)
	case "valid", "validation", "val", "eval":
		l.run.Valid = append(l.run.Valid, p)
	default:
		return
	}
	l.dirty = true
	if l.drawn && (l.now().Sub(l.lastDraw) < l.opts.Interval || step-l.lastStep < l.opts.Steps) {
		return
	}
	l.redraw(false)
	l.lastStep = step
}

// Close draws the final state of the chart (with every value recorded) and
// makes the cell output self-contained, so the saved notebook shows it.
// Values that arrive later are recorded and drawn by another Close.
func (l *LiveLoss) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.redraw(true)
	if l.display != nil && gonbui.IsNotebook {
		gonbui.Sync() // delivered before the cell's process exits
	}
}

// Chart returns the loss chart of the values recorded so far.
func (l *LiveLoss) Chart() *charts.Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chart()
}

func (l *LiveLoss) chart() *charts.Line {
	return LossCurves([]Run{l.run}, l.opts.LossOptions)
}

// redraw replaces the displayed chart. When the library is not yet in the
// page, the first redraw inlines it and the final one keeps it, so that the
// output the saved notebook keeps still carries it; the redraws between
// rely on the page having it already.
func (l *LiveLoss) redraw(final bool) {
	if l.display == nil || !l.dirty && (!final || !l.drawn) {
		return // outside a notebook, nothing new, or nothing ever recorded
	}
	if !l.drawn && !libraryInPage() {
		l.carrier = true
	}
	state := "partial"
	if final {
		state = "final" // what a browser test looks for in the saved output
	}
	l.display(l.id, `<div data-trustformers-live="`+state+`">`+snippet(l.chart(), l.carrier && (final || !l.drawn))+"</div>")
	l.drawn, l.dirty, l.lastDraw = true, false, l.now()
}
