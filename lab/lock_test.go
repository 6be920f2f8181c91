package lab

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestRunFolderLock opens a run folder that is already open: refused,
// naming the folder and the holder's pid, until the holder closes it.
func TestRunFolderLock(t *testing.T) {
	r, err := NewRun(t.TempDir(), "x", map[string]int{"a": 1}, "go", 1)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]int
	_, err = OpenRun(r.Dir, &cfg)
	if want := fmt.Sprintf("in use by process %d", os.Getpid()); err == nil || !strings.Contains(err.Error(), r.Dir) || !strings.Contains(err.Error(), want) {
		t.Errorf("opening a run folder held open: err = %v, want one naming %s and saying %q", err, r.Dir, want)
	}
	r.Close()
	r2, err := OpenRun(r.Dir, &cfg)
	if err != nil {
		t.Fatalf("after the holder closed it: %v", err)
	}
	r2.Close()
}
