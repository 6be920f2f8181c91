package viz

import (
	"fmt"
	"math"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// PCA projects vectors (one per row, all of the same length, at least two)
// onto their first two principal components. It centres the vectors, forms
// their covariance matrix, and finds its two leading eigenvectors by power
// iteration (the second kept orthogonal to the first). It returns the
// projected points and the fraction of the total variance that each
// component explains. Each component's sign is fixed so that its largest
// entry is positive, which makes the result deterministic.
func PCA[F Float](vectors [][]F) (points [][2]float64, explained [2]float64, err error) {
	n := len(vectors)
	if n < 2 {
		return nil, explained, fmt.Errorf("viz.PCA: %d vectors, need at least 2", n)
	}
	d := len(vectors[0])
	mean := make([]float64, d)
	for i, v := range vectors {
		if len(v) != d || d == 0 {
			return nil, explained, fmt.Errorf("viz.PCA: vector %d has %d values, vector 0 has %d", i, len(v), d)
		}
		for j, x := range v {
			if !finite(float64(x)) {
				return nil, explained, fmt.Errorf("viz.PCA: vector %d value %d is %v", i, j, x)
			}
			mean[j] += float64(x) / float64(n)
		}
	}
	centred := make([][]float64, n)
	for i, v := range vectors {
		centred[i] = make([]float64, d)
		for j, x := range v {
			centred[i][j] = float64(x) - mean[j]
		}
	}
	cov := make([]float64, d*d) // symmetric, row-major
	for _, c := range centred {
		for a := range d {
			if c[a] == 0 {
				continue
			}
			row := cov[a*d : (a+1)*d]
			for b := a; b < d; b++ {
				row[b] += c[a] * c[b]
			}
		}
	}
	var trace float64
	for a := range d {
		for b := a; b < d; b++ {
			cov[a*d+b] /= float64(n - 1)
			cov[b*d+a] = cov[a*d+b]
		}
		trace += cov[a*d+a]
	}
	var axes [2][]float64
	for k := range 2 {
		var lambda float64
		axes[k], lambda = powerIteration(cov, d, axes[:k])
		if trace > 0 {
			explained[k] = lambda / trace
		}
	}
	points = make([][2]float64, n)
	for i, c := range centred {
		points[i] = [2]float64{dot(c, axes[0]), dot(c, axes[1])}
	}
	return points, explained, nil
}

// powerIteration returns the leading unit eigenvector of the symmetric d×d
// matrix m within the space orthogonal to the vectors in skip, and its
// eigenvalue.
func powerIteration(m []float64, d int, skip [][]float64) ([]float64, float64) {
	v := make([]float64, d)
	seed := uint64(0x9e3779b97f4a7c15) // a fixed pseudo-random start, unlikely to be orthogonal to the answer
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407
		v[i] = float64(seed>>11)/float64(1<<53) - 0.5
	}
	orthonormalize(v, skip)
	next := make([]float64, d)
	for range 1000 {
		for a := range d {
			next[a] = dot(m[a*d:(a+1)*d], v)
		}
		orthonormalize(next, skip)
		delta := 0.0
		for a := range d {
			delta = max(delta, math.Abs(next[a]-v[a]))
		}
		v, next = next, v
		if delta < 1e-10 {
			break
		}
	}
	var lambda float64 // the Rayleigh quotient vᵀMv
	for a := range d {
		lambda += v[a] * dot(m[a*d:(a+1)*d], v)
	}
	big := 0
	for a := range d {
		if math.Abs(v[a]) > math.Abs(v[big]) {
			big = a
		}
	}
	if v[big] < 0 {
		for a := range v {
			v[a] = -v[a]
		}
	}
	return v, max(lambda, 0)
}

// orthonormalize removes from v its components along the unit vectors in
// skip and scales it to unit length (a zero vector stays zero).
func orthonormalize(v []float64, skip [][]float64) {
	for _, u := range skip {
		p := dot(v, u)
		for i := range v {
			v[i] -= p * u[i]
		}
	}
	norm := math.Sqrt(dot(v, v))
	if norm == 0 {
		return
	}
	for i := range v {
		v[i] /= norm
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Embeddings draws vectors (token embeddings, hidden states, ...) projected
// onto their first two principal components (see PCA) as a scatter, each
// point labelled; labels that would overlap are hidden. labels may be nil
// (points numbered). The axes say how much of the variance each component
// explains.
func Embeddings[F Float](vectors [][]F, labels []string, title string) (*charts.Scatter, error) {
	points, explained, err := PCA(vectors)
	if err != nil {
		return nil, fmt.Errorf("viz.Embeddings: %w", err)
	}
	if labels != nil && len(labels) != len(vectors) {
		return nil, fmt.Errorf("viz.Embeddings: %d labels for %d vectors", len(labels), len(vectors))
	}
	data := make([]opts.ScatterData, len(points))
	for i, p := range points {
		name := fmt.Sprint(i)
		if labels != nil {
			name = labels[i]
		}
		data[i] = opts.ScatterData{Name: name, Value: []float64{round(p[0]), round(p[1])}}
	}
	sc := charts.NewScatter()
	sc.SetGlobalOptions(append(common(800, 600, orDefault(title, "embeddings (PCA)"),
		fmt.Sprintf("%d vectors of dimension %d", len(vectors), len(vectors[0])), opts.Tooltip{Trigger: "item", Formatter: "{b}"}),
		charts.WithGridOpts(opts.Grid{Left: "60", Right: "60", Top: "70", Bottom: "60"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: fmt.Sprintf("PC1 (%.1f%%)", 100*explained[0]), NameLocation: "middle", NameGap: 30, Scale: opts.Bool(true)}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: fmt.Sprintf("PC2 (%.1f%%)", 100*explained[1]), NameLocation: "middle", NameGap: 40, Scale: opts.Bool(true)}),
	)...)
	sc.AddSeries("embeddings", data,
		charts.WithScatterChartOpts(opts.ScatterChart{SymbolSize: 8}),
		charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Position: "right", Formatter: "{b}", FontSize: 11, Color: "#333"}),
		charts.WithLabelLayoutOpts(opts.LabelLayout{HideOverlap: opts.Bool(true)}))
	return sc, nil
}
