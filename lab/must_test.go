package lab

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestModelPathAndDataPathSearchUpwards(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	nb := filepath.Join(repo, "notebooks")
	for _, d := range []string{nb, filepath.Join(repo, ".deps", "models"), filepath.Join(root, "shared", "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvModels, "")
	t.Setenv(EnvData, "")
	t.Setenv("GONB_DIR", nb)
	if got, want := ModelPath("m.gguf"), filepath.Join(repo, ".deps", "models", "m.gguf"); got != want {
		t.Errorf("ModelPath from %s = %s, want %s", nb, got, want)
	}
	if got, want := DataPath("x/y.txt"), filepath.Join(root, "shared", "data", "x", "y.txt"); got != want {
		t.Errorf("DataPath from %s = %s, want %s", nb, got, want)
	}
	t.Setenv(EnvModels, "/elsewhere")
	if got := ModelPath("m.gguf"); got != "/elsewhere/m.gguf" {
		t.Errorf("ModelPath with %s set = %s", EnvModels, got)
	}
}

func TestMustPanicsWithTheError(t *testing.T) {
	boom := errors.New("boom")
	defer func() {
		if r := recover(); r != boom {
			t.Errorf("recovered %v, want the error itself", r)
		}
	}()
	if Must(3, nil) != 3 {
		t.Error("Must(3, nil) != 3")
	}
	Must(0, boom)
	t.Error("Must did not panic")
}
