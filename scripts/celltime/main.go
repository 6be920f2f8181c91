// Command celltime measures what a notebook user waits for when a cell loads
// a model: it starts the GoNB kernel that `make setup` installs (through
// Debian's jupyter_client, as Jupyter's page does), and times a cell that
// loads GPT-2 124M-shaped weights (random, 12 layers, 768 wide, 50,257
// tokens; 498 MB of float32 safetensors) and generates 20 tokens: as a new
// cell with the weights evicted from the page cache first (cold), as a new
// cell with them cached (warm), and as the same cell run again (which GoNB
// does not rebuild). Each timing is the cell's whole wall time as the
// client sees it (GoNB building the cell, the process starting, loading,
// generating) with the cell's own breakdown beside it.
//
// Usage (make celltime runs it; docs/notebooks.md has its figures):
//
//	go run ./scripts/celltime [-runs 3] [-backend ""] [-dir build/celltime]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/trustformers/trustformers-go/models/gpt2"
	"github.com/trustformers/trustformers-go/xla"
)

// driver runs the cells in one GoNB kernel and prints one JSON line per
// timed cell. Evicting a file's pages with posix_fadvise(DONTNEED) needs no
// privileges (unlike drop_caches) and leaves the rest of the cache alone.
const driver = `
import json, os, sys, time
from jupyter_client.manager import start_new_kernel
cwd, files, setup, cell, runs = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4], int(sys.argv[5])

def evict():
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

def run(kc, code):
    start = time.monotonic()
    msg_id = kc.execute(code)
    out, err = [], []
    while True:
        m = kc.get_iopub_msg(timeout=600)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = m["msg_type"], m["content"]
        if t == "stream":
            (out if c["name"] == "stdout" else err).append(c["text"])
        elif t == "error":
            err.append("\n".join(c["traceback"]))
        elif t == "status" and c["execution_state"] == "idle":
            break
    return time.monotonic() - start, "".join(out), "".join(err)

km, kc = start_new_kernel(kernel_name="gonb", cwd=cwd, startup_timeout=120)
try:
    secs, out, err = run(kc, setup)
    if "exit status" in err or "panic:" in err:
        sys.exit("setup cell failed: " + err)
    for i in range(runs):
        for case in ("cold, new cell", "warm, new cell", "warm, same cell again"):
            if case.startswith("cold"):
                evict()
            # A new cell differs from the one before, so GoNB builds it; the
            # same cell run again is not rebuilt.
            if not case.endswith("again"):
                code = cell + "// %s %d\n" % (case, i)
            secs, out, err = run(kc, code)
            if "panic:" in err or "exit status" in err or not out.strip():
                sys.exit(case + " cell failed: " + err)
            print(json.dumps({"case": case, "run": i + 1, "cell_s": secs, "out": out}), flush=True)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
`

// setupCell points the kernel's module at this checkout, as every notebook's
// first cell does.
const setupCell = "!*go mod edit -require=github.com/trustformers/trustformers-go@v0.0.0 -replace=github.com/trustformers/trustformers-go=${GONB_DIR}/.."

// timedCell is the cell a user writes: load, generate 20 tokens; it prints
// its own breakdown as JSON. (A format string: "%%%%" is GoNB's "%%".)
const timedCell = `import (
	"encoding/json"
	"time"

	"github.com/trustformers/trustformers-go/models"
	"github.com/trustformers/trustformers-go/models/generate"
	"github.com/trustformers/trustformers-go/xla"
)

%%%%
start := time.Now()
backend := xla.MustNew(%q)
lm, err := models.LoadCausalLM(%q, backend)
if err != nil {
	panic(err)
}
loaded := time.Now()
var first time.Time
ids, err := generate.Generate(lm, []int32{464, 3290, 286, 4881}, generate.Options{MaxNewTokens: 20,
	OnToken: func(int32) bool {
		if first.IsZero() {
			first = time.Now()
		}
		return true
	}})
if err != nil {
	panic(err)
}
end := time.Now()
b, _ := json.Marshal(map[string]any{"backend": backend.Name(), "tokens": len(ids),
	"process_s": end.Sub(start).Seconds(), "load_s": loaded.Sub(start).Seconds(),
	"first_token_s": first.Sub(loaded).Seconds(), "generate_s": end.Sub(loaded).Seconds()})
fmt.Println(string(b))
`

func main() {
	runs := flag.Int("runs", 3, "cold and warm cells to time, each")
	backend := flag.String("backend", "", `backend of the timed cell ("" picks as xla.New does)`)
	dir := flag.String("dir", "build/celltime", "folder for the GPT-2 124M-shaped checkpoint")
	flag.Parse()
	if err := run(*runs, *backend, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "celltime:", err)
		os.Exit(1)
	}
}

func run(runs int, backend, dir string) error {
	ckpt, err := filepath.Abs(filepath.Join(dir, "gpt2-124m"))
	if err != nil {
		return err
	}
	weightsFile := filepath.Join(ckpt, "model.safetensors")
	if _, err := os.Stat(weightsFile); err != nil {
		fmt.Fprintf(os.Stderr, "celltime: writing random GPT-2 124M-shaped weights to %s\n", ckpt)
		m, err := gpt2.NewRandom(&gpt2.Config{VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12}, 1, xla.MustNew("go"))
		if err != nil {
			return err
		}
		if err := m.Save(ckpt); err != nil {
			return err
		}
	}
	notebooks, err := filepath.Abs("notebooks")
	if err != nil {
		return err
	}
	cmd := exec.Command("/usr/bin/python3", "-c", driver, notebooks, weightsFile, setupCell,
		fmt.Sprintf(timedCell, backend, ckpt), fmt.Sprint(runs))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("driving the gonb kernel (installed by make setup): %w", err)
	}
	fmt.Println("| case | run | cell (s) | in the cell's process (s) | load (s) | first token (s) | 20 tokens (s) | backend |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			Case string  `json:"case"`
			Run  int     `json:"run"`
			Cell float64 `json:"cell_s"`
			Out  string  `json:"out"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("driver printed %q: %w", line, err)
		}
		var c struct {
			Backend    string  `json:"backend"`
			Process    float64 `json:"process_s"`
			Load       float64 `json:"load_s"`
			FirstToken float64 `json:"first_token_s"`
			Generate   float64 `json:"generate_s"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(r.Out)), &c); err != nil {
			return fmt.Errorf("the cell printed %q: %w", r.Out, err)
		}
		fmt.Printf("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n",
			r.Case, r.Run, r.Cell, c.Process, c.Load, c.FirstToken, c.Generate, c.Backend)
	}
	return nil
}
