// Command nbrun executes GoNB notebooks headless and fails when any cell
// failed.
//
// GoNB reports a cell that panics or exits non-zero as successful, and
// `jupyter nbconvert --execute` then exits 0. nbrun therefore executes each
// notebook with nbconvert into an output folder and scans the executed copy:
// an `error` output, or a stderr line holding "panic:", "exit status N" or
// "signal:", fails the run with the notebook and cell named. With -render it
// also screenshots every echarts chart the notebook displayed, in headless
// Chromium with no network, and fails on a blank one. With -check it runs
// nothing and checks notebooks executed elsewhere (the browser test's saved
// copies) the same way.
//
// Usage:
//
//	go run ./scripts/nbrun [-out build/notebooks] [-render] [-timeout 600] [NOTEBOOK|DIR ...]
//	go run ./scripts/nbrun -check EXECUTED.ipynb ...
//
// With no arguments it runs notebooks/*.ipynb.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	out := flag.String("out", "build/notebooks", "folder for executed notebooks, chart pages and screenshots")
	kernel := flag.String("kernel", "gonb", "Jupyter kernel name")
	timeout := flag.Int("timeout", 600, "seconds one cell may run")
	render := flag.Bool("render", false, "screenshot every echarts chart output in headless Chromium and fail on a blank one")
	checkOnly := flag.Bool("check", false, "execute nothing: check the outputs of notebooks already executed")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: nbrun [flags] [NOTEBOOK.ipynb|DIR ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		args = []string{"notebooks"}
	}
	notebooks, err := collect(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbrun:", err)
		os.Exit(2)
	}
	if *checkOnly {
		os.Exit(checkExecuted(notebooks))
	}
	r := runner{outDir: *out, kernel: *kernel, cellTimeout: *timeout, render: *render}
	failed := 0
	for _, nb := range notebooks {
		start := time.Now()
		fmt.Printf("nbrun: %s ...\n", nb)
		problems, err := r.run(nb)
		if err != nil {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			failed++
			fmt.Printf("FAIL %s (%.1fs; executed copy in %s)\n", nb, time.Since(start).Seconds(), r.outDir)
			for _, p := range problems {
				fmt.Printf("  %s\n", strings.ReplaceAll(p, "\n", "\n    "))
			}
			continue
		}
		fmt.Printf("ok   %s (%.1fs)\n", nb, time.Since(start).Seconds())
	}
	fmt.Printf("nbrun: %d passed, %d failed\n", len(notebooks)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// collect expands folders into the notebooks they hold, sorted.
func collect(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, a)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(a, "*.ipynb"))
		if err != nil {
			return nil, err
		}
		sort.Strings(matches)
		out = append(out, matches...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no notebooks in %v", args)
	}
	return out, nil
}

// checkExecuted checks executed notebooks' outputs, prints each problem, and
// returns the exit status.
func checkExecuted(notebooks []string) int {
	status := 0
	for _, path := range notebooks {
		problems, err := checkFile(path)
		if err != nil {
			problems = append(problems, err.Error())
		}
		for _, p := range problems {
			fmt.Printf("%s\n", strings.ReplaceAll(p, "\n", "\n    "))
			status = 1
		}
	}
	return status
}
