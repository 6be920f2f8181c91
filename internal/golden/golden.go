// Package golden reads the reference outputs that scripts/reference writes
// into models/testdata/golden/<family> with Hugging Face Transformers' own
// classes, and compares tensors against them.
package golden

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/trustformers/trustformers-go/models/weights"
	"github.com/trustformers/trustformers-go/xla"
)

// Tolerance is the largest absolute difference accepted in float32.
const Tolerance = 1e-4

// Dir returns models/testdata/golden/<family> in this repository.
func Dir(family string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "models", "testdata", "golden", family)
}

// Load reads golden.safetensors of family.
func Load(tb testing.TB, family string) *weights.Set {
	tb.Helper()
	set, err := weights.ReadSafetensors(filepath.Join(Dir(family), "golden.safetensors"))
	if err != nil {
		tb.Fatalf("%v (regenerate with make reference, then .deps/venv/bin/python scripts/reference/make_goldens.py)", err)
	}
	return set
}

// Backend returns the backend the golden tests run on: TRUSTFORMERS_TEST_BACKEND,
// else the pure-Go backend (always present, and what CI checks). A test
// that calls it depends on the engine, and notes so (see EnvEngineTests).
func Backend(tb testing.TB) compute.Backend {
	tb.Helper()
	noteEngineTest(tb)
	b, _ := backendFrom(tb, "TRUSTFORMERS_TEST_BACKEND")
	return b
}

// EnvEngineTests names a folder in which Backend leaves a mark for each
// test that asks for the engine under test: an empty file
// <folder>/<package>/<TestName> (the package's folder in this repository,
// the top-level test's name). make test's first pass, on the go engine,
// leaves the marks, and the passes on the other engines run only the
// marked tests (scripts/enginetests.sh): the others do the same work
// whatever the engine. A package whose results come from go test's cache
// keeps its marks from the run that computed them.
const EnvEngineTests = "TRUSTFORMERS_ENGINE_TESTS"

// noteEngineTest leaves tb's mark in the EnvEngineTests folder, if one is set.
func noteEngineTest(tb testing.TB) {
	dir := os.Getenv(EnvEngineTests)
	if dir == "" {
		return
	}
	wd, err := os.Getwd() // go test runs a package's tests in its folder
	if err != nil {
		tb.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	pkg, err := filepath.Rel(repo, wd)
	if err != nil || strings.HasPrefix(pkg, "..") {
		tb.Fatalf("%s: the test runs in %s, outside the repository %s", EnvEngineTests, wd, repo)
	}
	test, _, _ := strings.Cut(tb.Name(), "/")
	mark := filepath.Join(dir, pkg, test)
	if err := os.MkdirAll(filepath.Dir(mark), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(mark, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchBackend returns the backend a benchmark measures and its spec:
// TRUSTFORMERS_BENCH_BACKEND, else the pure-Go backend.
func BenchBackend(tb testing.TB) (compute.Backend, string) {
	tb.Helper()
	return backendFrom(tb, "TRUSTFORMERS_BENCH_BACKEND")
}

// backendFrom creates the backend the environment variable env names
// ("go" when unset), finalized when tb ends.
func backendFrom(tb testing.TB, env string) (compute.Backend, string) {
	tb.Helper()
	spec := os.Getenv(env)
	if spec == "" {
		spec = "go"
	}
	b, err := xla.New(spec)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Finalize)
	return b, spec
}

// IDs returns the integer golden tensor name as rows of int32.
func IDs(tb testing.TB, set *weights.Set, name string) [][]int32 {
	tb.Helper()
	t, ok := set.Get(name)
	if !ok {
		tb.Fatalf("golden tensor %q missing", name)
	}
	dims := t.Shape().Dimensions
	flat := tensors.MustCopyFlatData[int64](t)
	rows := make([][]int32, dims[0])
	for i := range rows {
		rows[i] = make([]int32, dims[1])
		for j := range rows[i] {
			rows[i][j] = int32(flat[i*dims[1]+j])
		}
	}
	return rows
}

// Int returns the first element of the integer golden tensor name.
func Int(tb testing.TB, set *weights.Set, name string) int {
	tb.Helper()
	t, ok := set.Get(name)
	if !ok {
		tb.Fatalf("golden tensor %q missing", name)
	}
	return int(tensors.MustCopyFlatData[int64](t)[0])
}

// Float returns golden tensor name.
func Float(tb testing.TB, set *weights.Set, name string) *tensors.Tensor {
	tb.Helper()
	t, ok := set.Get(name)
	if !ok {
		tb.Fatalf("golden tensor %q missing", name)
	}
	return t
}

// MaxAbsDiff returns the largest |got-want| over two float32 tensors of the
// same shape, and the flat index where it occurs.
func MaxAbsDiff(got, want *tensors.Tensor) (float64, int, error) {
	if !got.Shape().Equal(want.Shape()) {
		return math.Inf(1), -1, fmt.Errorf("shape %s, want %s", got.Shape(), want.Shape())
	}
	g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
	worst, at := 0.0, 0
	for i := range g {
		d := math.Abs(float64(g[i]) - float64(w[i]))
		if math.IsNaN(d) {
			return math.NaN(), i, nil
		}
		if d > worst {
			worst, at = d, i
		}
	}
	return worst, at, nil
}

// Check fails the test when got differs from golden tensor name by more than
// tol, printing the largest difference and where; it returns the difference.
func Check(tb testing.TB, set *weights.Set, name string, got *tensors.Tensor, tol float64) float64 {
	tb.Helper()
	want := Float(tb, set, name)
	d, at, err := MaxAbsDiff(got, want)
	if err != nil {
		tb.Errorf("%s: %v", name, err)
		return d
	}
	if !(d <= tol) {
		g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
		tb.Errorf("%s: max |got-want| = %.3g at flat index %d (got %v, want %v), tolerance %.0g", name, d, at, g[at], w[at], tol)
	}
	return d
}

// Report collects the largest difference seen per check, for a summary log line.
type Report map[string]float64

// String lists the differences.
func (r Report) String() string {
	var parts []string
	for k, v := range r {
		parts = append(parts, fmt.Sprintf("%s %.2g", k, v))
	}
	return strings.Join(parts, ", ")
}

// CheckMasked is Check for outputs [B, T, ...] whose padded positions (mask
// 0) hold no meaningful value: those positions are zeroed in got, as the
// reference script zeroes them in the golden, before comparing.
func CheckMasked(tb testing.TB, set *weights.Set, name string, got *tensors.Tensor, mask [][]int32, tol float64) float64 {
	tb.Helper()
	dims := got.Shape().Dimensions
	if len(dims) < 2 || dims[0] != len(mask) || (len(mask) > 0 && dims[1] != len(mask[0])) {
		tb.Errorf("%s: output shape %v does not match a mask of %d rows", name, dims, len(mask))
		return math.Inf(1)
	}
	flat := tensors.MustCopyFlatData[float32](got)
	inner := len(flat) / (dims[0] * dims[1])
	for b, row := range mask {
		for t, m := range row {
			if m == 0 {
				clear(flat[(b*dims[1]+t)*inner : (b*dims[1]+t+1)*inner])
			}
		}
	}
	return Check(tb, set, name, tensors.FromFlatDataAndDimensions(flat, dims...), tol)
}

// Prompts returns the rows of the integer golden tensor name without their
// left padding (the positions where mask, another golden tensor, is 0).
func Prompts(tb testing.TB, set *weights.Set, name, mask string) [][]int32 {
	tb.Helper()
	ids, m := IDs(tb, set, name), IDs(tb, set, mask)
	for i := range ids {
		start := 0
		for start < len(m[i]) && m[i][start] == 0 {
			start++
		}
		ids[i] = ids[i][start:]
	}
	return ids
}

// Rows returns ragged rows of token ids stored flat: the integer golden
// tensor name holds every row one after another, and offsets (another one)
// where each starts, with the total length last.
func Rows(tb testing.TB, set *weights.Set, name, offsets string) [][]int32 {
	tb.Helper()
	all, ok := set.Get(name)
	off, ok2 := set.Get(offsets)
	if !ok || !ok2 {
		tb.Fatalf("golden tensors %q and %q missing", name, offsets)
	}
	ids, o := tensors.MustCopyFlatData[int64](all), tensors.MustCopyFlatData[int64](off)
	rows := make([][]int32, max(len(o)-1, 0))
	for i := range rows {
		rows[i] = make([]int32, o[i+1]-o[i])
		for j := range rows[i] {
			rows[i][j] = int32(ids[o[i]+int64(j)])
		}
	}
	return rows
}
