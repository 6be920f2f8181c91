package training

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/internal/assets"
	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// adamwReference is torch.optim.AdamW's update for one weight, in float64.
func adamwReference(p, g, m, v []float64, lr, b1, b2, eps, wd float64, step int, decay bool) {
	bc1 := 1 - math.Pow(b1, float64(step))
	bc2 := 1 - math.Pow(b2, float64(step))
	for i := range p {
		if decay {
			p[i] *= 1 - lr*wd
		}
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		denom := math.Sqrt(v[i])/math.Sqrt(bc2) + eps
		p[i] -= lr / bc1 * m[i] / denom
	}
}

func TestAdamWMatchesTorchsUpdate(t *testing.T) {
	backend := golden.Backend(t)
	// Loss = sum(w·x) + sum(b·c): gradients are x and c exactly.
	params := modeling.NewParams()
	w0 := []float32{0.5, -1, 2, 0.25, -0.75, 1.5}
	b0 := []float32{0.1, -0.2, 0.3}
	params.Set("w", tensors.FromFlatDataAndDimensions(append([]float32(nil), w0...), 2, 3))
	params.Set("b", tensors.FromFlatDataAndDimensions(append([]float32(nil), b0...), 3))
	x := []float32{1, -2, 3, 0.5, 4, -1}
	c := []float32{2, 0, -3}
	loss := func(g *Graph, batch []*Node) *Node {
		return Add(ReduceAllSum(Mul(params.Node(g, "w"), batch[0])), ReduceAllSum(Mul(params.Node(g, "b"), batch[1])))
	}
	opt := AdamW{Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}
	tr, err := NewTrainer(params, backend, loss, opt, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantW, wantB := f64(w0), f64(b0)
	mw, vw, mb, vb := make([]float64, 6), make([]float64, 6), make([]float64, 3), make([]float64, 3)
	for step := 1; step <= 3; step++ {
		lr := 1e-2 * float64(step)
		if _, _, err := tr.Step(lr, tensors.FromFlatDataAndDimensions(x, 2, 3), tensors.FromFlatDataAndDimensions(c, 3)); err != nil {
			t.Fatal(err)
		}
		adamwReference(wantW, f64(x), mw, vw, lr, 0.9, 0.99, 1e-8, 0.1, step, true)
		adamwReference(wantB, f64(c), mb, vb, lr, 0.9, 0.99, 1e-8, 0.1, step, false) // 1-D: no decay
	}
	gotW, _ := params.Variable("w").Value()
	gotB, _ := params.Variable("b").Value()
	for name, pair := range map[string][2][]float64{"w": {f64(tensors.MustCopyFlatData[float32](gotW)), wantW}, "b": {f64(tensors.MustCopyFlatData[float32](gotB)), wantB}} {
		for i := range pair[0] {
			if math.Abs(pair[0][i]-pair[1][i]) > 1e-6 {
				t.Errorf("%s[%d] after 3 AdamW steps = %.7f, torch's rule gives %.7f", name, i, pair[0][i], pair[1][i])
			}
		}
	}
}

func TestClippingAndSchedule(t *testing.T) {
	s := Schedule{LR: 1e-3, MinLR: 1e-4, WarmupIters: 100, DecayIters: 2000}
	if got := s.At(0); math.Abs(got-1e-3/101) > 1e-12 {
		t.Errorf("warm-up step 0 = %g", got)
	}
	if got := s.At(100); math.Abs(got-1e-3) > 1e-12 {
		t.Errorf("end of warm-up = %g, want the peak", got)
	}
	if got := s.At(1050); math.Abs(got-(1e-4+0.5*(1e-3-1e-4))) > 1e-9 {
		t.Errorf("cosine midpoint = %g", got)
	}
	if got := s.At(2500); got != 1e-4 {
		t.Errorf("after decay = %g, want the minimum", got)
	}

	backend := golden.Backend(t)
	params := modeling.NewParams()
	params.Set("w", tensors.FromFlatDataAndDimensions([]float32{0, 0}, 2))
	loss := func(g *Graph, batch []*Node) *Node { return ReduceAllSum(Mul(params.Node(g, "w"), batch[0])) }
	tr, _ := NewTrainer(params, backend, loss, AdamW{Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8}, 1)
	_, norm, err := tr.Step(0.1, tensors.FromFlatDataAndDimensions([]float32{3, 4}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(norm-5) > 1e-5 {
		t.Fatalf("gradient norm %g, want 5 (before clipping)", norm)
	}
}

func TestCharDataset(t *testing.T) {
	v := NewCharVocab("hello world")
	if v.Size() != 8 || string(v.Chars) != " dehlorw" {
		t.Fatalf("vocabulary %q", string(v.Chars))
	}
	ids, _ := v.Encode("hello")
	if v.Decode(ids) != "hello" {
		t.Fatal("round trip")
	}
	if _, err := v.Encode("hi!"); err == nil {
		t.Fatal("unknown character accepted")
	}
	d := SplitTokens(make([]int32, 100))
	if d.Train.Len() != 90 || d.Val.Len() != 10 {
		t.Fatalf("split %d/%d", d.Train.Len(), d.Val.Len())
	}
	seq := make([]int32, 50)
	for i := range seq {
		seq[i] = int32(i)
	}
	ds := &Dataset{Train: Int32Tokens(seq), Val: Int32Tokens(seq)}
	x, y, err := ds.Batch(rand.New(rand.NewPCG(1, 2)), "train", 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	xs, ys := tensors.MustCopyFlatData[int32](x), tensors.MustCopyFlatData[int32](y)
	for i := range xs {
		if ys[i] != xs[i]+1 {
			t.Fatalf("targets are not the inputs shifted by one: %v %v", xs, ys)
		}
	}
}

func f64(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// TestAccumulationEqualsOneLargeBatch checks that two accumulated
// micro-batches of 4 take the same step as one batch of 8.
func TestAccumulationEqualsOneLargeBatch(t *testing.T) {
	a, d := newRun(t)
	b, _ := newRun(t)
	rng := rand.New(rand.NewPCG(9, 9))
	x1, y1, _ := d.Batch(rng, "train", 4, 16)
	x2, y2, _ := d.Batch(rng, "train", 4, 16)
	join := func(p, q *tensors.Tensor) *tensors.Tensor {
		return tensors.FromFlatDataAndDimensions(append(tensors.MustCopyFlatData[int32](p), tensors.MustCopyFlatData[int32](q)...), 8, 16)
	}
	for range 3 {
		la, na, err := a.Step(1e-2, join(x1, x2), join(y1, y2))
		if err != nil {
			t.Fatal(err)
		}
		lb, nb, err := b.StepAccumulated(1e-2, [][]*tensors.Tensor{{x1, y1}, {x2, y2}})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(la-lb) > 1e-5 || math.Abs(na-nb) > 1e-4 {
			t.Fatalf("one batch of 8: loss %.7f norm %.6f; two accumulated batches of 4: loss %.7f norm %.6f", la, na, lb, nb)
		}
	}
	wa, _ := a.Params.Variable("h.0.mlp.c_fc.weight").Value()
	wb, _ := b.Params.Variable("h.0.mlp.c_fc.weight").Value()
	fa, fb := tensors.MustCopyFlatData[float32](wa), tensors.MustCopyFlatData[float32](wb)
	for i := range fa {
		if math.Abs(float64(fa[i]-fb[i])) > 1e-5 {
			t.Fatalf("weights differ after 3 steps at %d: %g vs %g", i, fa[i], fb[i])
		}
	}
}

func TestEarlyStopping(t *testing.T) {
	e := EarlyStopping{Patience: 2, MinDelta: 0.01}
	for i, tc := range []struct {
		loss           float64
		improved, stop bool
	}{{3, true, false}, {2.5, true, false}, {2.495, false, false}, {2.6, false, true}} {
		improved, stop := e.Observe(tc.loss)
		if improved != tc.improved || stop != tc.stop {
			t.Fatalf("observation %d (%.3f): improved %v stop %v, want %v %v", i, tc.loss, improved, stop, tc.improved, tc.stop)
		}
	}
	if e.Best() != 2.5 {
		t.Fatalf("best %v", e.Best())
	}
}

// TestGPT2TokenFiles prepares Tiny Shakespeare with GPT-2's BPE as nanoGPT's
// shakespeare/prepare.py does (uint16 train.bin / val.bin, 90/10), maps the
// files and checks that windows read back the encoded ids.
func TestGPT2TokenFiles(t *testing.T) {
	tok, err := tokenizer.Load(assets.Require(t, assets.GPT2Encoder))
	if err != nil {
		t.Fatal(err)
	}
	text := assets.Require(t, assets.TinyShakespeare)
	dir := t.TempDir()
	width, err := PrepareTokens(text, tok, dir)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := LoadTokenFiles(dir, width)
	if err != nil {
		t.Fatal(err)
	}
	total := ds.Train.Len() + ds.Val.Len()
	// nanoGPT's shakespeare prepare.py reports 301,966 train and 36,059 val tokens for this
	// corpus, but it splits the text (not the tokens) 90/10; the total is the comparable figure.
	if total != 301966+36059 {
		t.Errorf("%d tokens in all, want %d (tiktoken's count for Tiny Shakespeare)", total, 301966+36059)
	}
	head := ds.Train.Window(0, 5)
	want := tok.EncodeWith("First Citizen:", tokenizer.EncodeOptions{NoSpecialTokens: true})
	for i, id := range want {
		if head[i] != id {
			t.Fatalf("train.bin starts %v, want %v", head, want)
		}
	}
	if _, _, err := ds.Batch(rand.New(rand.NewPCG(1, 1)), "val", 2, 32); err != nil {
		t.Fatal(err)
	}
	if err := WriteTokenFile(filepath.Join(dir, "big.bin"), []int32{70000}, 2); err == nil {
		t.Error("a token over 65,535 was written as uint16")
	}
}
