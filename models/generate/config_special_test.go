package generate

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestGenerationConfigThatIsNotAFile reads a generation_config.json that
// is /dev/zero or a FIFO: an error naming the file, not an endless read or
// a wait for a writer.
func TestGenerationConfigThatIsNotAFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"/dev/zero", func(path string) error { return os.Symlink("/dev/zero", path) }},
		{"a FIFO", func(path string) error { return syscall.Mkfifo(path, 0o644) }},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, GenerationConfigFile)
		if err := tc.make(path); err != nil {
			t.Fatal(err)
		}
		_, err := ReadGenerationConfig(dir)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: err = %v, want one naming %s as not a regular file", tc.name, err, path)
		}
	}
}
