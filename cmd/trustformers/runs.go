package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trustformers/trustformers-go/lab"
)

func init() {
	commands["runs"] = command{"list run folders, or compare runs (a table and their loss curves)", runRuns}
}

// runRuns implements `trustformers runs list [DIR]` and `trustformers runs
// compare [--markdown] [--html PATH] [--title T] DIR...`.
func runRuns(args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintln(stderr, "usage: trustformers runs list [DIR]            run folders under DIR (default runs) with their losses\n"+
			"       trustformers runs compare [flags] DIR...  a table and a loss chart (compare.html) of several runs")
	}
	if len(args) == 0 {
		usage()
		return errUsage
	}
	switch args[0] {
	case "list":
		return named("runs list", runsList(args[1:], stdout, stderr))
	case "compare":
		return named("runs compare", runsCompare(args[1:], stdout, stderr))
	case "-h", "--help", "help":
		usage()
		return nil
	}
	usage()
	return usageErrorf("unknown subcommand %q", args[0])
}

// runsList prints one line per run folder under DIR: its path, steps taken,
// final and best validation loss, and when it started.
func runsList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runs list", "[DIR]", stderr)
	if err := fs.Parse(args); err != nil {
		return &lab.FlagError{Err: err}
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return errUsage
	}
	root := "runs"
	if fs.NArg() == 1 {
		root = fs.Arg(0)
	}
	dirs, err := lab.FindRuns(root)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return fmt.Errorf("no run folders under %s", root)
	}
	table := &lab.Table{Header: []string{"run", "steps", "final val", "best val", "started"}}
	unread := 0
	for _, dir := range dirs {
		s, err := lab.ReadRun(dir)
		if err != nil {
			fmt.Fprintf(stderr, "trustformers runs list: %v\n", err)
			unread++
			continue
		}
		best := "—"
		if !math.IsNaN(s.BestVal) {
			best = fmt.Sprintf("%.4f @%d", s.BestVal, s.BestValStep)
		}
		final := "—"
		if !math.IsNaN(s.FinalVal) {
			final = fmt.Sprintf("%.4f", s.FinalVal)
		}
		table.Rows = append(table.Rows, []string{dir, strconv.Itoa(s.Steps), final, best, s.Env.Started})
	}
	fmt.Fprint(stdout, table.Text())
	if unread > 0 {
		return fmt.Errorf("%d of %d run folders could not be read", unread, len(dirs))
	}
	return nil
}

// runsCompare prints the comparison table of the runs and writes its HTML
// page.
func runsCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runs compare", "[--markdown] [--html PATH] [--title TITLE] DIR...\n\n"+
		"Each DIR is a run folder, or a folder of run folders (runs/EXPERIMENT) standing for all of them.", stderr)
	markdown := fs.Bool("markdown", false, "print the table as Markdown")
	page := fs.String("html", "", "where to write the page with the table and the loss curves (default: compare.html in the runs' common parent folder)")
	title := fs.String("title", "", "the page's title (default: the experiments' names)")
	dirsGiven, err := parseInterspersed(fs, args)
	if err != nil {
		return &lab.FlagError{Err: err}
	}
	if len(dirsGiven) == 0 {
		fs.Usage()
		return errUsage
	}
	c, err := lab.Compare(dirsGiven...)
	if err != nil {
		return err
	}
	table := c.Table()
	if *markdown {
		fmt.Fprint(stdout, table.Markdown())
	} else {
		fmt.Fprint(stdout, table.Text())
	}
	var dirs, names []string
	seen := map[string]bool{}
	for _, r := range c.Runs {
		dirs = append(dirs, r.Dir)
		if !seen[r.Experiment] {
			seen[r.Experiment] = true
			names = append(names, r.Experiment)
		}
	}
	if *page == "" {
		*page = filepath.Join(commonParent(dirs), "compare.html")
	}
	if *title == "" {
		*title = strings.Join(names, ", ") + ": " + strconv.Itoa(len(c.Runs)) + " runs"
	}
	if err := c.WriteHTML(*page, *title); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s\n", *page)
	return nil
}

// parseInterspersed parses args with fs, allowing flags after the
// positional arguments too (`runs compare DIR... --html PATH`), and returns
// the positional arguments. A "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// commonParent returns the deepest folder holding all of dirs ("." when
// they share none).
func commonParent(dirs []string) string {
	var common []string
	for i, d := range dirs {
		parts := strings.Split(filepath.Dir(filepath.Clean(d)), string(os.PathSeparator))
		if i == 0 {
			common = parts
			continue
		}
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	if len(common) == 0 {
		return "."
	}
	if len(common) == 1 && common[0] == "" {
		return string(os.PathSeparator)
	}
	return strings.Join(common, string(os.PathSeparator))
}
