package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/trustformers/trustformers-go/viz"
)

// runner executes notebooks and checks the executed copies.
type runner struct {
	outDir      string
	kernel      string
	cellTimeout int
	render      bool
}

// notebook is the part of the nbformat 4 JSON that nbrun reads.
type notebook struct {
	Cells []struct {
		CellType string          `json:"cell_type"`
		Source   json.RawMessage `json:"source"`
		Outputs  []output        `json:"outputs"`
	} `json:"cells"`
}

type output struct {
	OutputType string                     `json:"output_type"`
	Name       string                     `json:"name"`
	Text       json.RawMessage            `json:"text"`
	EName      string                     `json:"ename"`
	EValue     string                     `json:"evalue"`
	Traceback  []string                   `json:"traceback"`
	Data       map[string]json.RawMessage `json:"data"`
}

// multiline decodes nbformat's "string or list of strings" fields.
func multiline(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []string
	if json.Unmarshal(raw, &parts) == nil {
		return strings.Join(parts, "")
	}
	return string(raw)
}

var failurePatterns = []*regexp.Regexp{
	regexp.MustCompile(`panic:`),
	regexp.MustCompile(`exit status \d+`),
	regexp.MustCompile(`signal: `),
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// run executes one notebook and returns the problems found in its outputs.
func (r *runner) run(path string) ([]string, error) {
	if err := os.MkdirAll(r.outDir, 0o755); err != nil {
		return nil, err
	}
	outDir, err := filepath.Abs(r.outDir)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".ipynb")
	executed := filepath.Join(outDir, name+".ipynb")
	os.Remove(executed)
	cmd := exec.Command("jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
		"--ExecutePreprocessor.kernel_name="+r.kernel,
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", r.cellTimeout),
		"--output-dir", outDir, "--output", name, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	runErr := cmd.Run()
	data, readErr := os.ReadFile(executed)
	if runErr != nil && readErr != nil {
		return nil, fmt.Errorf("%s: jupyter nbconvert failed: %v\n%s", path, runErr, tail(stderr.String(), 40))
	}
	if readErr != nil {
		return nil, fmt.Errorf("%s: no executed notebook written: %v\n%s", path, readErr, tail(stderr.String(), 40))
	}
	nb, err := parse(executed, data)
	if err != nil {
		return nil, err
	}
	problems := check(path, nb)
	if runErr != nil {
		problems = append(problems, fmt.Sprintf("%s: jupyter nbconvert: %v\n%s", path, runErr, tail(stderr.String(), 20)))
	}
	if r.render {
		problems = append(problems, r.renderCharts(path, name, outDir, nb)...)
	}
	return problems, nil
}

// parse decodes an executed notebook read from path.
func parse(path string, data []byte) (*notebook, error) {
	var nb notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("%s: executed notebook is not valid JSON: %w", path, err)
	}
	return &nb, nil
}

// checkFile reads an executed notebook and checks its outputs.
func checkFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	nb, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	return check(path, nb), nil
}

// check returns one problem per failed output: error outputs, and stderr
// lines with a panic, a non-zero exit status or a signal.
func check(path string, nb *notebook) []string {
	var problems []string
	codeCell := 0
	for i, cell := range nb.Cells {
		if cell.CellType != "code" {
			continue
		}
		codeCell++
		where := fmt.Sprintf("%s: cell %d (code cell %d, starting %q)", path, i+1, codeCell, firstLine(multiline(cell.Source)))
		for _, o := range cell.Outputs {
			switch o.OutputType {
			case "error":
				tb := ansi.ReplaceAllString(strings.Join(o.Traceback, "\n"), "")
				problems = append(problems, fmt.Sprintf("%s: error output %s: %s\n%s", where, o.EName, o.EValue, tail(tb, 15)))
			case "stream":
				if o.Name != "stderr" {
					continue
				}
				for _, line := range strings.Split(multiline(o.Text), "\n") {
					clean := ansi.ReplaceAllString(line, "")
					for _, p := range failurePatterns {
						if p.MatchString(clean) {
							problems = append(problems, fmt.Sprintf("%s: stderr: %s", where, strings.TrimSpace(clean)))
							break
						}
					}
				}
			}
		}
	}
	return problems
}

// renderCharts writes every displayed echarts chart as a page of its own and
// fails on a blank screenshot.
func (r *runner) renderCharts(path, name, outDir string, nb *notebook) []string {
	var problems []string
	// viz inlines the echarts library in a process's first chart only; the
	// notebook page has it above the later ones, so their pages get it too.
	library := ""
	for i, cell := range nb.Cells {
		charts := 0
		for k, o := range cell.Outputs {
			html := multiline(o.Data["text/html"])
			if !strings.Contains(html, "echarts.init(") {
				continue
			}
			if lib := inlinedLibrary(html); lib != "" {
				library = lib
			} else {
				html = library + html
			}
			charts++
			base := filepath.Join(outDir, fmt.Sprintf("%s-cell%d-out%d", name, i+1, k+1))
			page := "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n" + html + "\n</body></html>\n"
			if err := os.WriteFile(base+".html", []byte(page), 0o644); err != nil {
				return append(problems, err.Error())
			}
			if err := viz.Screenshot(base+".html", base+".png", 1000, 600); err != nil {
				problems = append(problems, fmt.Sprintf("%s: cell %d: %v", path, i+1, err))
				continue
			}
			std, err1 := viz.PixelStdDev(base + ".png")
			coloured, err2 := viz.ColouredFraction(base + ".png")
			if err1 != nil || err2 != nil {
				problems = append(problems, fmt.Sprintf("%s: cell %d: reading screenshot: %v %v", path, i+1, err1, err2))
				continue
			}
			fmt.Printf("  chart %s.png: grey std-dev %.1f, coloured %.2f%%\n", base, std, 100*coloured)
			if std < 5 || coloured < 0.001 {
				problems = append(problems, fmt.Sprintf("%s: cell %d: chart renders blank offline (grey std-dev %.2f, coloured %.4f); screenshot %s.png", path, i+1, std, coloured, base))
			}
		}
		// A cell that shows a chart must have one in its output: GoNB can
		// drop a display when the cell's process exits too soon.
		if strings.Contains(multiline(cell.Source), "viz.Show(") && charts == 0 {
			problems = append(problems, fmt.Sprintf("%s: cell %d calls viz.Show but its output holds no chart", path, i+1))
		}
	}
	return problems
}

// inlinedLibrary returns the script element that inlines the echarts
// library in a chart output (see viz.Snippet), or "".
func inlinedLibrary(html string) string {
	const start = "<script>if (typeof window.echarts === 'undefined') {"
	i := strings.Index(html, start)
	if i < 0 {
		return ""
	}
	j := strings.Index(html[i:], "}</script>")
	if j < 0 {
		return ""
	}
	return html[i:i+j+len("}</script>")] + "\n"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
