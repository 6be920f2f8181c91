package jinja

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// goldenCase is one case of testdata/jinja_cases.golden.json, written by
// scripts/reference/jinja_cases.py with Python's jinja2 configured as
// transformers configures it.
type goldenCase struct {
	Name       string
	Template   string
	Vars       map[string]json.RawMessage
	Text       *string
	Generation [][2]int
	Error      string
	Message    string
}

func readGolden(t *testing.T) []goldenCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "jinja_cases.golden.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with python3 scripts/reference/jinja_cases.py)", err)
	}
	var g struct{ Cases []goldenCase }
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 200 {
		t.Fatalf("only %d cases in the golden", len(g.Cases))
	}
	return g.Cases
}

// wantClass maps jinja2's outcome to our error class: where jinja2 runs
// out of memory or time, this package stops at one of its Limits.
func wantClass(pyClass string) string {
	switch pyClass {
	case "MemoryError", "Timeout":
		return "LimitError"
	}
	return pyClass
}

// TestMatchesJinja2 renders every golden case: the same text (and the same
// {% generation %} ranges) as jinja2, or an error of the class jinja2
// raised.
func TestMatchesJinja2(t *testing.T) {
	for _, c := range readGolden(t) {
		t.Run(c.Name, func(t *testing.T) {
			vars := map[string]any{}
			for k, v := range c.Vars {
				vars[k] = v
			}
			res, err := renderCase(c.Template, vars)
			if c.Error != "" {
				var e *Error
				if !errors.As(err, &e) || e.Class != wantClass(c.Error) {
					t.Fatalf("got %v, %v; jinja2 raised %s: %s", res, err, c.Error, c.Message)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v; jinja2 rendered %q", err, *c.Text)
			}
			if res.Text != *c.Text {
				t.Fatalf("\n got %q\nwant %q", res.Text, *c.Text)
			}
			var spans [][2]int
			for _, s := range res.Generation {
				spans = append(spans, [2]int{s.Start, s.End})
			}
			if !slices.Equal(spans, c.Generation) {
				t.Errorf("generation spans %v, jinja2 %v", spans, c.Generation)
			}
		})
	}
}

func renderCase(source string, vars map[string]any) (*Result, error) {
	tmpl, err := Compile("case", source)
	if err != nil {
		return nil, err
	}
	return tmpl.Render(vars)
}
