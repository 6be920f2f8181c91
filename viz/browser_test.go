package viz

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// sampleCharts returns one chart of every kind the builders make, drawn
// from deterministic synthetic data.
func sampleCharts(t *testing.T) map[string]Chart {
	t.Helper()
	decay := func(run int, step int, noise float64) float64 {
		return 0.8 + 3.5*math.Exp(-float64(step)/(150+60*float64(run))) + noise*math.Sin(float64(step)*1.7+float64(run))
	}
	var runs []Run
	for r, name := range []string{"lr 3e-4", "lr 1e-3", "lr 3e-3"} {
		run := Run{Name: name}
		for s := 0; s <= 1000; s += 5 {
			run.Train = append(run.Train, Point{Step: s, Value: decay(r, s, 0.25)})
			if s%100 == 0 {
				run.Valid = append(run.Valid, Point{Step: s, Value: decay(r, s, 0) + 0.1})
			}
		}
		runs = append(runs, run)
	}
	live := NewLiveLoss(LiveOptions{LossOptions: LossOptions{Title: "live loss (final state)", Smoothing: 0.8}})
	for s := range 300 {
		live.OnMetrics(s, "train", "loss", decay(0, s, 0.3))
		if s%50 == 49 {
			live.OnMetrics(s, "valid", "loss", decay(0, s, 0)+0.05)
		}
	}
	live.Close()

	tokens := []string{"<s>", "Once", "upon", "a", "time", ",", "there", "was", "a", "little", "girl", "."}
	n := len(tokens)
	grid := make([][][][]float32, 5)
	for l := range grid {
		grid[l] = make([][][]float32, 8)
		for h := range grid[l] {
			grid[l][h] = causalPattern(n, l, h)
		}
	}

	var steps []browserStep
	for i := range 16 {
		var s browserStep
		left := 1.0
		for r := range 5 {
			p := left * (0.35 + 0.5*math.Abs(math.Sin(float64(3*i+r))))
			left -= p
			s.ids, s.logProbs = append(s.ids, int32(100+7*i+r)), append(s.logProbs, math.Log(p))
		}
		s.chosen = s.ids[i%2]
		steps = append(steps, s)
	}

	var vectors [][]float32
	var words []string
	for i := range 40 {
		a, b := math.Cos(float64(i)*0.7), math.Sin(float64(i)*0.3)
		vectors = append(vectors, []float32{float32(a), float32(2 * b), float32(a + b), float32(0.1 * math.Sin(float64(i)))})
		words = append(words, fmt.Sprintf("word%d", i))
	}

	var weights []float32
	for i := range 20000 {
		u1, u2 := (float64(i)+0.5)/20000, math.Mod(float64(i)*0.618034, 1)
		weights = append(weights, float32(0.02*math.Sqrt(-2*math.Log(u1))*math.Cos(2*math.Pi*u2)))
	}

	return map[string]Chart{
		"loss_single": LossCurves(runs[:1], LossOptions{}),
		"loss_runs":   LossCurves(runs, LossOptions{Title: "three runs, smoothed, log scale", Smoothing: 0.9, LogY: true}),
		"live_loss":   live.Chart(),
		"lr_schedule": LRSchedule(func(s int) float64 {
			if s < 200 {
				return 6e-4 * float64(s+1) / 200
			}
			return 6e-5 + 0.5*(6e-4-6e-5)*(1+math.Cos(math.Pi*float64(s-200)/1800))
		}, 2000, "warm-up and cosine decay"),
		"attention":      must(Attention(grid[4][1], tokens, "layer 4, head 1")),
		"attention_grid": must(AttentionGrid(grid, tokens, "every layer and head")),
		"top_tokens":     TopTokens(steps, nil, ""),
		"embeddings":     must(Embeddings(vectors, words, "")),
		"histogram":      Histogram(weights, 60, "weights of a layer"),
	}
}

// causalPattern makes a plausible head: each query attends to earlier
// tokens, with a preference that depends on the layer and head.
func causalPattern(n, layer, head int) [][]float32 {
	w := make([][]float32, n)
	for q := range n {
		w[q] = make([]float32, n)
		var sum float64
		scores := make([]float64, q+1)
		for k := 0; k <= q; k++ {
			switch head % 4 {
			case 0: // previous token
				scores[k] = -3 * math.Abs(float64(q-1-k))
			case 1: // first token
				scores[k] = -2 * float64(k)
			case 2: // itself
				scores[k] = -3 * float64(q-k)
			default: // spread
				scores[k] = math.Sin(float64(k*(layer+1) + head))
			}
			scores[k] = math.Exp(scores[k])
			sum += scores[k]
		}
		for k := 0; k <= q; k++ {
			w[q][k] = float32(scores[k] / sum)
		}
	}
	return w
}

var sizePattern = regexp.MustCompile(`width:(\d+)px;height:(\d+)px`)

// TestEveryChartRendersOffline saves every kind of chart as a standalone
// page, screenshots it in headless Chromium with no network, and fails on
// a blank one. The PNGs stay in build/viz/charts to be looked at.
func TestEveryChartRendersOffline(t *testing.T) {
	requireLocalECharts(t)
	requireChromium(t)
	dir, err := filepath.Abs(filepath.Join(buildDir, "charts"))
	if err != nil {
		t.Fatal(err)
	}
	for name, chart := range sampleCharts(t) {
		t.Run(name, func(t *testing.T) {
			page := filepath.Join(dir, name+".html")
			savePage(t, page, name, chart)
			m := sizePattern.FindStringSubmatch(chart.RenderSnippet().Element)
			if m == nil {
				t.Fatalf("chart element has no pixel size: %s", chart.RenderSnippet().Element)
			}
			w, _ := strconv.Atoi(m[1])
			h, _ := strconv.Atoi(m[2])
			requireDrawn(t, page, w+40, h+40)
		})
	}
}

// browserStep is a generation step as TopTokens reads it.
type browserStep struct {
	chosen   int32
	ids      []int32
	logProbs []float64
}

func (s browserStep) Chosen() int32                      { return s.chosen }
func (s browserStep) Alternatives() ([]int32, []float64) { return s.ids, s.logProbs }
