package files

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "config.json")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := Write(path, func(w io.Writer) error {
		if _, err := w.Write([]byte("half of the ne")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("failed write: err = %v; want the fill's error, naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("after a failed write the file holds %q, want the old content", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sub", ".*"+TempInfix+"*")); len(left) > 0 {
		t.Fatalf("a failed write left %v", left)
	}
	if err := WriteFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if got, _ := os.ReadFile(path); err != nil || string(got) != "new" || info.Mode().Perm() != 0o644 {
		t.Fatalf("after a write: %q, mode %v (%v); want \"new\", 0644", got, info.Mode().Perm(), err)
	}
}

func TestWriteFailedRenameLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(target, []byte("data"))
	if err == nil || !strings.Contains(err.Error(), target) {
		t.Fatalf("writing over a non-empty folder: err = %v; want an error naming %s", err, target)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*"+TempInfix+"*")); len(left) > 0 {
		t.Fatalf("a failed rename left %v", left)
	}
}
