package viz_test

import (
	"fmt"
	"math"
	"time"

	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/viz"
)

func ExampleLossCurves() {
	run := viz.Run{
		Name:  "baseline",
		Train: []viz.Point{{0, 4.2}, {10, 3.1}, {20, 2.6}, {30, 2.4}},
		Valid: []viz.Point{{0, 4.3}, {30, 2.5}},
	}
	chart := viz.LossCurves([]viz.Run{run}, viz.LossOptions{Smoothing: 0.6, LogY: true})
	for _, s := range chart.MultiSeries {
		fmt.Println(s.Name, s.LineStyle.Type, *s.LineStyle.Opacity)
	}
	fmt.Println("y axis:", chart.YAxisList[0].Type)
	// Output:
	// baseline · train  1
	// baseline · train  0.25
	// baseline · valid dashed 1
	// y axis: log
}

func ExampleSmooth() {
	for _, p := range viz.Smooth([]viz.Point{{1, 4}, {2, 2}, {3, 3}}, 0.5) {
		fmt.Printf("%d %.3f\n", p.Step, p.Value)
	}
	// Output:
	// 1 4.000
	// 2 2.667
	// 3 2.857
}

func ExampleLRSchedule() {
	warmup := func(step int) float64 { return 1e-3 * math.Min(1, float64(step+1)/100) }
	chart := viz.LRSchedule(warmup, 300, "")
	points := chart.MultiSeries[0].Data.([]opts.LineData)
	fmt.Println(chart.Title.Title, len(points), points[0].Value, points[299].Value)
	// Output: learning rate 300 [0 1e-05] [299 0.001]
}

func ExampleAttention() {
	weights := [][]float32{{1, 0}, {0.3, 0.7}}
	chart, err := viz.Attention(weights, []string{"hello", "world"}, "layer 0, head 0")
	if err != nil {
		panic(err)
	}
	fmt.Println(chart.Title.Title, chart.YAxisList[0].Data, chart.MultiSeries[0].Data)
	// Output: layer 0, head 0 [hello world] [{ [0 0 1]} { [1 0 0]} { [0 1 0.3]} { [1 1 0.7]}]
}

func ExampleSimilarity() {
	// Cosine similarities of three sentence embeddings.
	sims := [][]float32{{1, 0.8, 0.1}, {0.8, 1, 0.2}, {0.1, 0.2, 1}}
	chart, err := viz.Similarity(sims, []string{"a cat", "a kitten", "a tax form"}, "sentence similarity")
	if err != nil {
		panic(err)
	}
	fmt.Println(chart.Title.Title, chart.YAxisList[0].Data, len(chart.MultiSeries[0].Data.([]opts.HeatMapData)))
	// Output: sentence similarity [a cat a kitten a tax form] 9
}

func ExampleAttentionGrid() {
	head := [][]float32{{1, 0}, {0.5, 0.5}}
	weights := [][][][]float32{{head, head, head}, {head, head, head}} // 2 layers × 3 heads
	chart, err := viz.AttentionGrid(weights, []string{"a", "b"}, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(chart.GridList), "grids;", chart.MultiSeries[5].Name, "on axes", chart.MultiSeries[5].XAxisIndex)
	fmt.Println(chart.YAxisList[3].Name)
	// Output:
	// 6 grids; layer 1 head 2 on axes 5
	// layer 1
}

func ExampleTopTokens() {
	steps := []generate.Step{{
		Candidate: generate.Candidate{ID: 42, LogProb: math.Log(0.7)},
		Top:       []generate.Candidate{{ID: 42, LogProb: math.Log(0.7)}, {ID: 7, LogProb: math.Log(0.2)}},
	}}
	chart := viz.TopTokens(steps, nil, "")
	for _, s := range chart.MultiSeries {
		bar := s.Data.([]opts.BarData)[0]
		fmt.Printf("%s (stack %q): token %s p=%v\n", s.Name, s.Stack, bar.Name, bar.Value)
	}
	// Output:
	// rank 1 (stack "p"): token 42 p=0.7
	// rank 2 (stack "p"): token 7 p=0.2
	// rest (stack "p"): token rest p=0.1
}

func ExamplePCA() {
	points, explained, err := viz.PCA([][]float64{{3, 1}, {1, 1}, {2, 1.5}, {2, 0.5}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.2f %.2f\n", points[0], explained)
	// Output: [1.00 0.00] [0.80 0.20]
}

func ExampleEmbeddings() {
	vectors := [][]float32{{3, 1}, {1, 1}, {2, 1.5}, {2, 0.5}}
	chart, err := viz.Embeddings(vectors, []string{"king", "queen", "man", "woman"}, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(chart.XAxisList[0].Name, chart.YAxisList[0].Name)
	// Output: PC1 (80.0%) PC2 (20.0%)
}

func ExampleHistogram() {
	chart := viz.Histogram([]float32{0, 1, 1, 2, 2, 2, 3, 3, 3, 3}, 4, "weights")
	fmt.Println(chart.Title.Subtitle)
	for _, d := range chart.MultiSeries[0].Data.([]opts.BarData) {
		fmt.Print(d.Value, " ")
	}
	fmt.Println()
	// Output:
	// n = 10   mean = 2   std = 1   range [0, 3]
	// 1 2 3 4
}

func ExampleLiveLoss() {
	// A training loop reports its metrics to the chart; in a GoNB notebook
	// it redraws in place (at most every Interval), elsewhere it records.
	live := viz.NewLiveLoss(viz.LiveOptions{Interval: 200 * time.Millisecond, LossOptions: viz.LossOptions{Smoothing: 0.9}})
	for step := range 100 {
		live.OnMetrics(step, "train", "loss", 3/math.Sqrt(float64(step+1)))
		if step%50 == 49 {
			live.OnMetrics(step, "valid", "loss", 3.2/math.Sqrt(float64(step+1)))
		}
	}
	live.Close() // draws the final state
	for _, s := range live.Chart().MultiSeries {
		fmt.Println(s.Name)
	}
	// Output:
	// train
	// train
	// valid
}
