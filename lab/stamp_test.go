package lab

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestNewRunRunsNoGitOfTheWorkingDirectory starts a run from inside a
// checkout whose .git/config names a program for core.fsmonitor (which git
// status runs): the program must not run. The test binary carries no VCS
// stamp, so NewRun asks git, of this module's own folder only.
func TestNewRunRunsNoGitOfTheWorkingDirectory(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	os.WriteFile(filepath.Join(repo, "f.txt"), []byte("x"), 0o644)
	git("add", "f.txt")
	git("commit", "-qm", "c")
	marker := filepath.Join(t.TempDir(), "ran")
	script := filepath.Join(repo, "monitor.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755)
	git("config", "core.fsmonitor", script)
	git("config", "core.hooksPath", repo) // and any hook it could name

	t.Chdir(repo)
	r, err := NewRun(t.TempDir(), "x", map[string]int{"a": 1}, "go", 1)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("NewRun ran git in the working directory: its core.fsmonitor program ran")
	}
	var env Env
	data, _ := os.ReadFile(filepath.Join(r.Dir, "env.json"))
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	module := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(module, ".git")); err != nil {
		return // a copy of the source without its history: no commit to record
	}
	want, err := exec.Command("git", "-C", module, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	if env.Commit+"\n" != string(want) {
		t.Errorf("env.json records commit %q, want this module's %q", env.Commit, want)
	}
}
