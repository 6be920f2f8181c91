package modeling

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// ScanMode chooses how LinearScan runs a recurrence along time. Every mode
// computes the same states, in graphs of static shapes; they differ in
// speed, which depends on the engine and the length (docs/benchmarks.md,
// "Mamba's selective scan").
type ScanMode int

const (
	// ScanAuto is the mode measured fastest on the graph's engine (see
	// Engine.SequentialScan).
	ScanAuto ScanMode = iota
	// ScanLoop runs the steps one after another inside the engine's While
	// loop, one compiled body for every step; on an engine without loops
	// (ONNX Runtime) it is ScanUnrolled.
	ScanLoop
	// ScanUnrolled writes each step into the graph: T small operations in
	// a row.
	ScanUnrolled
	// ScanParallel is the associative scan of JAX's lax.associative_scan:
	// pairs combined level by level, log2(T) levels down and up, about 2T
	// combinations in all, each level one operation over all its pairs.
	ScanParallel
)

var scanNames = [...]string{"auto", "loop", "unrolled", "parallel"}

// String returns the mode's name ("auto", "loop", "unrolled", "parallel").
func (m ScanMode) String() string {
	if m >= 0 && int(m) < len(scanNames) {
		return scanNames[m]
	}
	return fmt.Sprintf("scan(%d)", int(m))
}

// ParseScanMode returns the mode named s (see ScanMode.String).
func ParseScanMode(s string) (ScanMode, error) {
	for i, n := range scanNames {
		if n == s {
			return ScanMode(i), nil
		}
	}
	return 0, fmt.Errorf("scan mode %q: want one of %v", s, scanNames)
}

// LinearScan returns the states of the linear recurrence
// h_t = a_t·h_{t-1} + b_t (element-wise), t = 0..T-1, starting from
// h_{-1} = h0: a and b are [B, T, ...] and h0 is [B, ...]; the result is
// every h_t, [B, T, ...]. It is the selective scan of state-space models
// (Mamba: a = exp(Δ·A), b = Δ·B·x).
func LinearScan(a, b, h0 *Node, mode ScanMode) *Node {
	if !a.Shape().Equal(b.Shape()) || a.Rank() < 2 || h0.Rank() != a.Rank()-1 {
		panic(fmt.Sprintf("LinearScan: a %s, b %s and h0 %s: want a and b [B, T, ...] and h0 [B, ...]", a.Shape(), b.Shape(), h0.Shape()))
	}
	if a.Shape().Dimensions[1] == 1 {
		return Add(Mul(a, ExpandAxes(h0, 1)), b)
	}
	switch mode.For(a.Graph().Backend()) {
	case ScanLoop:
		return scanLoop(a, b, h0)
	case ScanUnrolled:
		return scanUnrolled(a, b, h0)
	case ScanParallel:
		// The start state enters through the first step: b_0 + a_0·h0.
		first := Add(Mul(SliceAxis(a, 1, AxisElem(0)), ExpandAxes(h0, 1)), SliceAxis(b, 1, AxisElem(0)))
		b = Concatenate([]*Node{first, SliceAxis(b, 1, AxisRangeToEnd(1))}, 1)
		_, h := associativeScan(a, b)
		return h
	}
	panic(fmt.Sprintf("LinearScan: unknown mode %v", mode))
}

// For returns the mode LinearScan runs on backend: ScanAuto becomes the
// engine's fastest (ScanLoop where Engine.SequentialScan, else
// ScanParallel), and ScanLoop becomes ScanUnrolled on an engine without
// loops.
func (m ScanMode) For(backend compute.Backend) ScanMode {
	if m == ScanAuto {
		m = ScanParallel
		if EngineOf(backend).SequentialScan {
			m = ScanLoop
		}
	}
	if m == ScanLoop && !hasLoops(backend) {
		m = ScanUnrolled
	}
	return m
}

// hasLoops reports whether backend runs While loops: the engines with
// closures (go, XLA) do, though XLA's capabilities do not list While
// among its operations.
func hasLoops(backend compute.Backend) bool { return backend.Capabilities().Functions }

// scanUnrolled runs the recurrence as T steps in the graph.
func scanUnrolled(a, b, h0 *Node) *Node {
	t := a.Shape().Dimensions[1]
	h, states := h0, make([]*Node, t)
	for i := range t {
		h = Add(Mul(Squeeze(SliceAxis(a, 1, AxisElem(i)), 1), h), Squeeze(SliceAxis(b, 1, AxisElem(i)), 1))
		states[i] = h
	}
	return Stack(states, 1)
}

// scanLoop runs the recurrence in a While loop whose body reads step i of a
// and b and writes h_i into the result.
func scanLoop(a, b, h0 *Node) *Node {
	g := a.Graph()
	t := a.Shape().Dimensions[1]
	counter := shapes.Make(dtypes.Int32)
	start, empty := ScalarZero(g, dtypes.Int32), ZerosLike(a)
	readA, readB := stepReader(a), stepReader(b)
	cond := NewClosure(g, func(g *Graph) []*Node {
		i := Parameter(g, "i", counter)
		Parameter(g, "h", h0.Shape())
		Parameter(g, "states", a.Shape())
		return []*Node{LessThan(i, Const(g, int32(t)))}
	})
	// The closures make their constants with Const: GoMLX keeps one node
	// per scalar value for the whole graph (Scalar, ScalarZero,
	// AddScalar), and one first made inside a closure belongs to it, which
	// breaks the graph's later uses of that value outside.
	body := NewClosure(g, func(g *Graph) []*Node {
		i := Parameter(g, "i", counter)
		h := Parameter(g, "h", h0.Shape())
		states := Parameter(g, "states", a.Shape())
		h = Add(Mul(readA(i), h), readB(i))
		return []*Node{Add(i, Const(g, int32(1))), h, DynamicUpdateSlice(states, ExpandAxes(h, 1), stepAt(i, a.Rank()))}
	})
	out := While(cond, body, start, h0, empty)
	return out[2]
}

// stepReader returns a function giving x[:, i] ([B, ...]) inside a loop
// body: a DynamicSlice, or on engines without one (GoMLX's go backend) a
// Gather from a time-major copy of x made once, outside the loop.
func stepReader(x *Node) func(i *Node) *Node {
	if x.Graph().Backend().Capabilities().Operations[compute.OpTypeDynamicSlice] {
		sizes := x.Shape().Clone().Dimensions
		sizes[1] = 1
		return func(i *Node) *Node { return Squeeze(DynamicSlice(x, stepAt(i, x.Rank()), sizes), 1) }
	}
	timeMajor := Transpose(x, 0, 1)
	return func(i *Node) *Node { return Gather(timeMajor, Reshape(i, 1)) }
}

// stepAt returns the start indices of step i along axis 1 of a tensor of
// the given rank, made in i's scope.
func stepAt(i *Node, rank int) []*Node {
	at := make([]*Node, rank)
	for k := range at {
		at[k] = Const(i.Graph(), int32(0))
	}
	at[1] = i
	return at
}

// associativeScan is lax.associative_scan over axis 1 for the operator
// (a1, b1) ∘ (a2, b2) = (a1·a2, a2·b1 + b2), element 1 coming first: it
// combines neighbouring pairs, scans the pairs (half as many), and fills in
// the elements between them. It returns the running products of a and the
// states.
func associativeScan(a, b *Node) (*Node, *Node) {
	n := a.Shape().Dimensions[1]
	if n < 2 {
		return a, b
	}
	evenA, evenB := every2(a, 0, n-1), every2(b, 0, n-1)
	oddA, oddB := every2(a, 1, n), every2(b, 1, n)
	pa, pb := associativeScan(combine(evenA, evenB, oddA, oddB))
	// pa, pb hold the prefixes ending at elements 1, 3, 5, ...; those
	// ending at 2, 4, ... extend them by one element.
	var ea, eb *Node
	if n > 2 {
		prevA, prevB := pa, pb
		if n%2 == 0 {
			prevA, prevB = SliceAxis(pa, 1, AxisRange(0, n/2-1)), SliceAxis(pb, 1, AxisRange(0, n/2-1))
		}
		ea, eb = combine(prevA, prevB, every2(a, 2, n), every2(b, 2, n))
		ea = Concatenate([]*Node{SliceAxis(a, 1, AxisElem(0)), ea}, 1)
		eb = Concatenate([]*Node{SliceAxis(b, 1, AxisElem(0)), eb}, 1)
	} else {
		ea, eb = SliceAxis(a, 1, AxisElem(0)), SliceAxis(b, 1, AxisElem(0))
	}
	return interleave(ea, pa, n), interleave(eb, pb, n)
}

// every2 returns x's elements from, from+2, ... before to along axis 1.
func every2(x *Node, from, to int) *Node {
	return SliceAxis(x, 1, AxisRange(from, to).Stride(2))
}

// combine applies the scan's operator to (a1, b1), then (a2, b2).
func combine(a1, b1, a2, b2 *Node) (*Node, *Node) {
	return Mul(a1, a2), Add(Mul(a2, b1), b2)
}

// interleave merges even (elements 0, 2, ...) and odd (1, 3, ...) along
// axis 1 into n elements.
func interleave(even, odd *Node, n int) *Node {
	if n%2 == 1 {
		// One more even element: pad odd with a copy of it, cut after.
		odd = Concatenate([]*Node{odd, SliceAxis(even, 1, AxisElem(-1))}, 1)
	}
	pairs := Stack([]*Node{even, odd}, 2)
	dims := pairs.Shape().Clone().Dimensions
	merged := append([]int{dims[0], dims[1] * 2}, dims[3:]...)
	return SliceAxis(Reshape(pairs, merged...), 1, AxisRange(0, n))
}
