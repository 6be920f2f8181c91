package files

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "config.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "a named pipe"},
		{"/dev/zero", "a character device"},
		{dir, "a folder"},
	} {
		_, err := ReadFile(tc.path, ConfigLimit)
		if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadFile(%s): err = %v; want an error naming it and saying %q", tc.path, err, tc.want)
		}
	}
}

func TestReadFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path, 999); err == nil || !strings.Contains(err.Error(), "1000 bytes") {
		t.Errorf("a 1000-byte file under a 999-byte limit: err = %v", err)
	}
	data, err := ReadFile(path, 1000)
	if err != nil || len(data) != 1000 {
		t.Errorf("a 1000-byte file under a 1000-byte limit: %d bytes, err = %v", len(data), err)
	}
}
