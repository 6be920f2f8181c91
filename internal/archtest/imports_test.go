package archtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/trustformers/trustformers-go/"

// library reports whether pkg (relative to the module) is one the table
// must list: everything but commands, scripts, experiments and the test
// helpers under internal/.
func library(pkg string) bool {
	switch {
	case strings.HasPrefix(pkg, "cmd/"), strings.HasPrefix(pkg, "scripts/"), strings.HasPrefix(pkg, "tools"):
		return false
	case strings.HasPrefix(pkg, "lab/"):
		return false // an experiment: lab/<name> and lab/<name>/<package>
	case strings.HasPrefix(pkg, "internal/"):
		return false
	}
	return true
}

func TestREADMEImports(t *testing.T) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	dir := strings.TrimSpace(string(root))
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	table := readTable(t, string(readme))

	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.String())
	}
	actual := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if !library(pkg) {
			continue
		}
		imports := []string{}
		for _, imp := range fields[1:] {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				imports = append(imports, rel)
			}
		}
		actual[pkg] = imports
	}
	for pkg, imports := range actual {
		listed, ok := table[pkg]
		if !ok {
			t.Errorf("README's import table has no row for %s (it imports %v)", pkg, imports)
			continue
		}
		if !slices.Equal(listed, imports) {
			t.Errorf("README says %s imports %v; go list says %v", pkg, listed, imports)
		}
	}
	for pkg := range table {
		if _, ok := actual[pkg]; !ok {
			t.Errorf("README's import table lists %s, which is not a library package of the module", pkg)
		}
	}
}

// readTable returns the rows of README's import table: package → sorted
// imports. A row may name several packages that import the same.
func readTable(t *testing.T, readme string) map[string][]string {
	start := strings.Index(readme, "<!-- imports: checked by internal/archtest -->")
	end := strings.Index(readme, "<!-- /imports -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no import table between <!-- imports: checked by internal/archtest --> and <!-- /imports -->")
	}
	code := regexp.MustCompile("`([^`]+)`")
	table := map[string][]string{}
	for _, line := range strings.Split(readme[start:end], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		imports := []string{}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			imports = append(imports, m[1])
		}
		slices.Sort(imports)
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			table[m[1]] = imports
		}
	}
	if len(table) == 0 {
		t.Fatal("README.md's import table has no rows")
	}
	return table
}

// TestLayers asserts the two rules the table alone would not keep: viz
// draws plain data and depends on no package of this module (not even
// indirectly), and no library package depends on a test harness under
// internal/.
func TestLayers(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var ours []string
		for _, p := range strings.Fields(string(out)) {
			if rel, ok := strings.CutPrefix(p, module); ok && p != pkg {
				ours = append(ours, rel)
			}
		}
		return ours
	}
	if ours := deps(module + "viz"); len(ours) != 0 {
		t.Errorf("viz depends on %v; it must draw plain data and import nothing of this module", ours)
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(pkg, module)
		if !library(rel) {
			continue
		}
		for _, d := range deps(pkg) {
			if strings.HasPrefix(d, "internal/") {
				t.Errorf("library package %s depends on the test harness %s", rel, d)
			}
		}
	}
}
