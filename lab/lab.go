// Package lab keeps experiments reproducible: each run writes a folder
// runs/<experiment>/<run-id>/ holding config.json (the settings), env.json
// (Go version, backend, SIMD, GOMAXPROCS, module commit, seed, CPU),
// metrics.jsonl (one line per training or evaluation report), checkpoints/
// and samples.txt. ReadRun and Compare read such folders back: Compare
// gives a table of the settings that differ between runs beside their
// losses, speed and wall time, and a chart of all their loss curves
// (WriteHTML).
//
// Experiment scripts live in lab/<name>: the body in the importable package
// lab/<name>/experiment (an Experiment whose Run takes the command line),
// and a main.go that calls Main with it, so that `go run ./lab/<name>` and
// `trustformers train <name>` run the same code.
package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/training"
	"github.com/trustformers/trustformers-go/xla"
)

// Run is one experiment run's folder, held by this process (see lockRun)
// until Close.
type Run struct {
	Dir     string
	mu      sync.Mutex
	metrics *os.File
	lock    *os.File
	err     error // the first error writing metrics
}

// Env is what env.json records about where a run ran.
type Env struct {
	GoVersion  string `json:"go_version"`
	Backend    string `json:"backend"`
	SIMD       bool   `json:"simd"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	CPU        string `json:"cpu"`
	Module     string `json:"module"`
	Commit     string `json:"commit,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	Seed       uint64 `json:"seed"`
	Command    string `json:"command"`
	Started    string `json:"started"`
}

// NewRun creates runs/<experiment>/<run-id> under root (run-id is the start
// time, UTC) and writes config.json and env.json.
//
// The folder is created with one os.Mkdir, which fails if it exists, and a
// suffix -2, -3, ... is tried until one is created: two runs started in the
// same second, in one process or several, never share a folder.
func NewRun(root, experiment string, config any, backend string, seed uint64) (*Run, error) {
	id := time.Now().UTC().Format("20060102-150405")
	if err := os.MkdirAll(filepath.Join(root, experiment), 0o755); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, experiment, id)
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		dir = filepath.Join(root, experiment, fmt.Sprintf("%s-%d", id, i))
	}
	if err := os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o755); err != nil {
		return nil, err
	}
	lock, err := lockRun(dir)
	if err != nil {
		return nil, err
	}
	r := &Run{Dir: dir, lock: lock}
	if err := r.writeJSON("config.json", config); err != nil {
		lock.Close()
		return nil, err
	}
	report := xla.DescribeSpec(backend)
	env := Env{GoVersion: runtime.Version(), Backend: backend, SIMD: xla.SIMD(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU: runtime.NumCPU(), CPU: report.CPUModel, Seed: seed, Command: strings.Join(os.Args, " "),
		Started: time.Now().UTC().Format(time.RFC3339)}
	env.Module, env.Commit, env.Modified = sourceStamp()
	if err := r.writeJSON("env.json", env); err != nil {
		lock.Close()
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		lock.Close()
		return nil, err
	}
	r.metrics = f
	return r, nil
}

// sourceStamp returns the module and the commit the running code was built
// from, and whether its files differed from that commit: the binary's VCS
// stamp, else (`go run` and `go test` stamp none) what git says of this
// module's own folder (see moduleGit).
func sourceStamp() (module, commit string, modified bool) {
	if info, ok := debug.ReadBuildInfo(); ok {
		module = info.Main.Path + "@" + info.Main.Version
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if commit != "" {
		return module, commit, modified
	}
	out, err := moduleGit("rev-parse", "HEAD")
	if err != nil {
		return module, "", false
	}
	st, err := moduleGit("status", "--porcelain", "--untracked-files=no")
	return module, strings.TrimSpace(string(out)), err == nil && len(bytes.TrimSpace(st)) > 0
}

// modulePath is this module's path, as its go.mod declares it.
const modulePath = "github.com/trustformers/trustformers-go"

// moduleGit runs git with args in this module's own checkout: the folder
// this file was compiled from, when it still holds the module's go.mod and
// its own .git. Never in the working directory, which may be anyone's
// checkout: a repository's .git/config can make git run programs
// (core.fsmonitor on every status, hooks), so git runs with those off and
// without the system-wide config, and does not look above the folder.
func moduleGit(args ...string) ([]byte, error) {
	_, file, _, ok := runtime.Caller(0)
	dir := filepath.Dir(filepath.Dir(file)) // lab/lab.go → the module root
	if !ok || !filepath.IsAbs(dir) {        // built with -trimpath: the folder is unknown
		return nil, errors.New("the module's folder is unknown")
	}
	mod, err := files.ReadFile(filepath.Join(dir, "go.mod"), 1<<20)
	if err != nil || !slices.Contains(strings.Fields(string(mod)), modulePath) {
		return nil, fmt.Errorf("%s is not this module's checkout", dir)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".git")); err != nil {
		return nil, err
	}
	cmd := exec.Command("git", append([]string{"-C", dir, "--no-optional-locks",
		"-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") { // GIT_DIR and the like would point git elsewhere
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	return cmd.Output()
}

// ReadConfig decodes the run folder dir's config.json into config.
func ReadConfig(dir string, config any) error {
	path := filepath.Join(dir, "config.json")
	data, err := files.ReadFile(path, files.ConfigLimit)
	if err != nil {
		return fmt.Errorf("resuming %s: %w", dir, err)
	}
	if err := json.Unmarshal(data, config); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// OpenRun reopens an existing run folder to continue it: metrics are
// appended to its metrics.jsonl, and config.json is decoded into config.
// A folder that another process holds open is an error naming it and that
// process (see lockRun).
func OpenRun(dir string, config any) (*Run, error) {
	if err := ReadConfig(dir, config); err != nil {
		return nil, err
	}
	lock, err := lockRun(dir)
	if err != nil {
		return nil, err
	}
	removeStaleTemporaries(dir)
	path := filepath.Join(dir, "metrics.jsonl")
	if err := repairTail(path); err != nil {
		lock.Close()
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &Run{Dir: dir, metrics: f, lock: lock}, nil
}

// lockName is a run folder's lock file.
const lockName = ".lock"

// lockRun takes the run folder dir for this process: an exclusive flock on
// dir/.lock, which the kernel releases when the file is closed (Run.Close)
// or the process ends, however it ends; the file then names the holder's
// pid. Two processes writing one folder would each append every metrics
// line and overwrite each other's checkpoints.
func lockRun(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run folder %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if p := strings.TrimSpace(string(pid)); p != "" {
				holder = "process " + p
			}
			return nil, fmt.Errorf("run folder %s is in use by %s (it holds %s): one process at a time may write a run", dir, holder, path)
		}
		return nil, fmt.Errorf("run folder %s: locking %s: %w", dir, path, err)
	}
	// The pid is only for the message of a process that finds the folder taken.
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// metricsLimit bounds metrics.jsonl: about 150 bytes a line, so millions
// of steps and evaluations.
const metricsLimit = 1 << 30

// repairTail cuts a last line that a kill left without its newline off
// metrics.jsonl, so that the lines appended after it stay whole.
func repairTail(path string) error {
	data, err := files.ReadFile(path, metricsLimit)
	if errors.Is(err, fs.ErrNotExist) || err == nil && (len(data) == 0 || data[len(data)-1] == '\n') {
		return nil
	}
	if err != nil {
		return err
	}
	keep := bytes.LastIndexByte(data, '\n') + 1
	if err := os.Truncate(path, int64(keep)); err != nil {
		return fmt.Errorf("%s: cutting the last line, cut short by a kill: %w", path, err)
	}
	return nil
}

// removeStaleTemporaries deletes the temporary files that files.Write
// leaves when a process is killed while writing (".NAME.tmp123"), in the run
// folder and its checkpoints: a run folder is written by one process at a
// time, so any found on reopening it are stale.
func removeStaleTemporaries(dir string) {
	for _, sub := range []string{dir, filepath.Join(dir, "checkpoints")} {
		matches, _ := filepath.Glob(filepath.Join(sub, ".*"+files.TempInfix+"*"))
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
}

// Checkpoint returns the path of the run's checkpoint file.
func (r *Run) Checkpoint() string { return CheckpointPath(r.Dir) }

// CheckpointPath returns the path of the checkpoint file in the run folder
// dir: what the other processes of a job read when they resume, while rank
// 0 alone holds the folder open.
func CheckpointPath(dir string) string { return filepath.Join(dir, "checkpoints", "ckpt.safetensors") }

func (r *Run) writeJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return files.WriteFile(filepath.Join(r.Dir, name), append(data, '\n'))
}

// metricsLine is one line of metrics.jsonl.
type metricsLine struct {
	Step         int    `json:"step"`
	Split        string `json:"split"`
	Loss         number `json:"loss"`
	LR           number `json:"lr,omitempty"`
	GradNorm     number `json:"grad_norm,omitempty"`
	TokensPerSec number `json:"tokens_per_sec,omitempty"`
	Time         string `json:"time"`
}

// number is a float64 that JSON records even when it is NaN or infinite
// (a diverged loss must be in the record, not drop the line): as the
// strings "NaN", "Infinity" and "-Infinity", which JSON readers such as
// Python's accept for floats.
type number float64

// MarshalJSON writes n as a JSON number, or as a string when it is not finite.
func (n number) MarshalJSON() ([]byte, error) {
	v := float64(n)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (n *number) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"NaN"`:
		*n = number(math.NaN())
	case `"Infinity"`:
		*n = number(math.Inf(1))
	case `"-Infinity"`:
		*n = number(math.Inf(-1))
	default:
		var v float64
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		*n = number(v)
	}
	return nil
}

// OnMetrics appends m to metrics.jsonl (it implements training.Callback),
// one whole line per report in a single write.
func (r *Run) OnMetrics(m training.Metrics) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line, err := json.Marshal(metricsLine{Step: m.Step, Split: m.Split, Loss: number(m.Loss), LR: number(m.LR),
		GradNorm: number(m.GradNorm), TokensPerSec: number(m.TokensPerSec), Time: time.Now().UTC().Format(time.RFC3339Nano)})
	if err == nil {
		_, err = r.metrics.Write(append(line, '\n'))
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", r.metrics.Name(), err)
	}
}

// AddSample appends a generated sample to samples.txt under a heading.
func (r *Run) AddSample(heading, text string) error {
	f, err := os.OpenFile(filepath.Join(r.Dir, "samples.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "=== %s\n%s\n\n", heading, text)
	return err
}

// Close closes the run's files and returns the first error writing the
// metrics met (a full disk, say), if any.
func (r *Run) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.metrics.Close(); err != nil && r.err == nil {
		r.err = err
	}
	if r.lock != nil {
		r.lock.Close() // releases the folder
		r.lock = nil
	}
	return r.err
}

// Progress draws a one-line progress bar on a terminal (or any writer):
// step, bar, latest loss, learning rate, speed and time left. It implements
// training.Callback.
type Progress struct {
	W     io.Writer
	Total int
	start time.Time
	last  time.Time
	val   float64
}

// OnMetrics redraws the bar at most ten times a second, and on evaluations.
func (p *Progress) OnMetrics(m training.Metrics) {
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if m.Split == "val" {
		p.val = m.Loss
		fmt.Fprintf(p.W, "\rstep %5d: val loss %.4f%s\n", m.Step, m.Loss, strings.Repeat(" ", 40))
		return
	}
	if m.Split != "train" {
		return // another evaluation (a training-set estimate): in the run's metrics, not on the bar
	}
	if now.Sub(p.last) < 100*time.Millisecond && m.Step+1 < p.Total {
		return
	}
	p.last = now
	// A step outside 0..Total (a resumed checkpoint of another run) draws an
	// empty or a full bar, never a negative repeat count.
	done := min(max(float64(m.Step+1)/float64(max(p.Total, 1)), 0), 1)
	width := 24
	bar := strings.Repeat("█", int(done*float64(width))) + strings.Repeat("·", width-int(done*float64(width)))
	elapsed := now.Sub(p.start)
	eta := time.Duration(float64(elapsed) / done * (1 - done))
	fmt.Fprintf(p.W, "\r%5d/%d %s loss %.4f lr %.2e %6.0f tok/s eta %s ", m.Step+1, p.Total, bar, m.Loss, m.LR,
		m.TokensPerSec, eta.Round(time.Second))
	if m.Step+1 == p.Total {
		fmt.Fprintln(p.W)
	}
}
