package jinja

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// hostile are templates that would run away without Limits: each must end
// with an error of its class that names the template and the bound.
var hostile = []struct {
	name, source string
	class, says  string
}{
	{"recursive macro", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError", "Limits.Depth"},
	{"recursive caller", "{% macro m() %}{{ caller() }}{% endmacro %}{% macro r() %}{% call m() %}{{ r() }}{% endcall %}{% endmacro %}{{ r() }}", "RecursionError", "Limits.Depth"},
	{"huge range", "{% for i in range(1000000000) %}x{% endfor %}", "OverflowError", "MAX_RANGE (100000)"},
	{"nested loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "LimitError", "Limits.Steps"},
	{"string doubling", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "LimitError", "Limits.Value"},
	{"list doubling", "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", "LimitError", "Limits.Value"},
	{"huge repeat", "{{ 'x' * 100000000000 }}", "LimitError", "Limits.Value"},
	{"huge list repeat", "{{ [0] * 100000000000 }}", "LimitError", "Limits.Value"},
	{"output", "{% for i in range(100000) %}{{ 'x' * 60000 }}{% endfor %}", "LimitError", "Limits.Output"},
	{"many large values", "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + ['x' * 60000 ~ i] %}{% endfor %}", "LimitError", "Limits.Alloc"},
	{"deep list", "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}", "RecursionError", "Limits.Depth"},
	{"deep tuple key", "{% set ns = namespace(t=1) %}{% for i in range(100000) %}{% set ns.t = (ns.t,) %}{% endfor %}{{ {ns.t: 1} }}", "RecursionError", "Limits.Depth"},
	{"deep json", "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l | tojson }}", "RecursionError", "Limits.Depth"},
	{"deep comparison", "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l == ns.l }}", "RecursionError", "Limits.Depth"},
	{"long sum", "{{ " + strings.Repeat("1 + ", 100000) + "1 }}", "RecursionError", "nests more than"},
	{"deep parentheses", "{{ " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + " }}", "RecursionError", "nests more than"},
	{"string scans", "{% set s = 'ab' * 4000000 %}{% for i in range(100000) %}{{ 'z' in s }}{% endfor %}", "LimitError", "Limits.Steps"},
	{"string indexing", "{% set s = '\u00e9' * 4000000 %}{% for i in range(100000) %}{{ s[i] }}{% endfor %}", "LimitError", "Limits"},
	{"splitting", "{{ (',' * 60000000).split(',') | length }}", "LimitError", "Limits.Value"},
	{"join of a huge repeat", "{{ (['abcdefgh'] * 1000000000) | join }}", "LimitError", "Limits.Value"},
	{"integer overflow", "{{ 2 ** 64 }}", "OverflowError", "64 bits"},
}

// TestHostileTemplatesStop renders each hostile template under the
// default limits: an error naming the template, of the class expected,
// saying which bound it passed.
func TestHostileTemplatesStop(t *testing.T) {
	for _, c := range hostile {
		t.Run(c.name, func(t *testing.T) {
			tmpl, err := Compile("tokenizer_config.json", c.source)
			if err == nil {
				_, err = tmpl.Render(nil)
			}
			var e *Error
			if !errors.As(err, &e) || e.Class != c.class || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "tokenizer_config.json") {
				t.Fatalf("err = %v, want a %s naming tokenizer_config.json and saying %q", err, c.class, c.says)
			}
		})
	}
}

// TestHostileTemplatesBoundedMemory renders the hostile templates under
// small limits and counts what the process allocated meanwhile: a few
// times Limits.Alloc at most, whatever the template asks for.
func TestHostileTemplatesBoundedMemory(t *testing.T) {
	lim := Limits{Steps: 2_000_000, Value: 4 << 20, Output: 4 << 20, Alloc: 16 << 20}
	for _, c := range hostile {
		tmpl, err := Compile("t", c.source)
		if err != nil {
			continue // the parser's bound: nothing rendered
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = tmpl.RenderLimited(nil, lim)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: no error", c.name)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 8*uint64(lim.Alloc) {
			t.Errorf("%s: allocated %d MB under Limits.Alloc %d MB", c.name, got>>20, lim.Alloc>>20)
		}
	}
}

// TestStepsAreCounted checks the work a rendering counts: loops count
// every iteration, so a loop of n items takes about n times its body, and
// Limits.Steps stops it at the bound given.
func TestStepsAreCounted(t *testing.T) {
	steps := func(n int) int64 {
		tmpl, err := Compile("t", "{% for i in range(N) %}{{ i }}{% endfor %}")
		if err != nil {
			t.Fatal(err)
		}
		res, err := tmpl.Render(map[string]any{"N": n})
		if err != nil {
			t.Fatal(err)
		}
		return res.Steps
	}
	s1, s2 := steps(1000), steps(2000)
	if s1 < 3000 || s2 < 2*s1-100 || s2 > 2*s1+100 {
		t.Errorf("steps for 1000 and 2000 iterations: %d and %d, want at least 3 an iteration, linear", s1, s2)
	}
	tmpl, _ := Compile("t", "{% for i in range(100000) %}{{ i }}{% endfor %}")
	_, err := tmpl.RenderLimited(nil, Limits{Steps: s1})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d steps", s1)) {
		t.Errorf("under Limits.Steps %d: %v", s1, err)
	}
}

// TestVariables converts Go values: maps with their keys sorted, JSON
// objects in their own order, numbers of every kind, structs by their
// JSON names.
func TestVariables(t *testing.T) {
	type tool struct {
		Name string `json:"name"`
		Hide string `json:"-"`
		Opt  string `json:"opt,omitempty"`
	}
	vars := map[string]any{
		"m":   map[string]any{"b": 1, "a": []string{"x"}},
		"j":   json.RawMessage(`{"z": 1, "a": [1.5, null, true], "n": 12345678901234}`),
		"u":   uint8(7),
		"f":   float32(0.5),
		"s":   tool{Name: "calc", Hide: "secret"},
		"nil": []int(nil),
	}
	tmpl, err := Compile("t", "{{ m | tojson }} {{ j | tojson }} {{ u + 1 }} {{ f }} {{ s }} {{ nil is none }}")
	if err != nil {
		t.Fatal(err)
	}
	res, err := tmpl.Render(vars)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a": ["x"], "b": 1} {"z": 1, "a": [1.5, null, true], "n": 12345678901234} 8 0.5 {'name': 'calc'} True`
	if res.Text != want {
		t.Errorf("got  %s\nwant %s", res.Text, want)
	}
	if _, err := tmpl.Render(map[string]any{"m": make(chan int)}); err == nil || !strings.Contains(err.Error(), `"m"`) {
		t.Errorf("a channel: %v", err)
	}
}

// TestUnsupported: what this package does not implement is an error
// naming it, never a guess.
func TestUnsupported(t *testing.T) {
	for _, src := range []string{
		"{% for x in [1] recursive %}{{ loop(x) }}{% endfor %}",
		"{{ 'x' | wordwrap }}",
		"{{ 'a'.encode() }}",
		"{{ '{:>5}'.format(1) }}",
	} {
		tmpl, err := Compile("t", src)
		if err == nil {
			_, err = tmpl.Render(nil)
		}
		var e *Error
		if !errors.As(err, &e) || e.Class != "Unsupported" {
			t.Errorf("%s: %v, want an Unsupported error", src, err)
		}
	}
}

// TestConcurrentRendering renders one template from several goroutines
// (go test -race checks the sharing).
func TestConcurrentRendering(t *testing.T) {
	tmpl, err := Compile("t", "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m }}{% endfor %}{{ ns.n }}")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for i := range 4 {
		go func() {
			res, err := tmpl.Render(map[string]any{"messages": []int{i, i}})
			if err != nil {
				done <- err.Error()
				return
			}
			done <- res.Text
		}()
	}
	seen := map[string]bool{}
	for range 4 {
		seen[<-done] = true
	}
	for i := range 4 {
		if want := strings.Repeat(string(rune('0'+i)), 2) + "2"; !seen[want] {
			t.Errorf("renderings %v lack %q", seen, want)
		}
	}
}
