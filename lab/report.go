package lab

import (
	"path/filepath"
	"sort"

	"github.com/trustformers/trustformers-go/viz"
)

// WriteReport draws the run's metrics.jsonl as report.html in the run
// folder: the training and validation loss curves and the learning-rate
// schedule, rendered offline with the echarts copy written beside it.
func (r *Run) WriteReport(title string) error {
	lines, err := readMetrics(filepath.Join(r.Dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	run := viz.Run{}
	lrs := map[int]float64{}
	last := 0
	for _, m := range lines {
		switch m.Split {
		case "train":
			run.Train = append(run.Train, viz.Point{Step: m.Step, Value: float64(m.Loss)})
			lrs[m.Step] = float64(m.LR)
			last = max(last, m.Step)
		case "val":
			run.Valid = append(run.Valid, viz.Point{Step: m.Step, Value: float64(m.Loss)})
		}
	}
	sort.Slice(run.Train, func(i, j int) bool { return run.Train[i].Step < run.Train[j].Step })
	loss := viz.LossCurves([]viz.Run{run}, viz.LossOptions{Title: title + ": loss", Smoothing: 0.9})
	lr := viz.LRSchedule(func(step int) float64 { return lrs[step] }, last+1, title+": learning rate")
	return SaveHTML(filepath.Join(r.Dir, "report.html"), title, loss, lr)
}
