package files

import (
	"fmt"
	"io"
	"os"
)

// Size limits for ReadFile: what a file of that kind can reasonably hold.
const (
	// ConfigLimit bounds JSON settings files (config.json,
	// generation_config.json, adapter_config.json, tokenizer_config.json).
	ConfigLimit = 64 << 20
	// TokenizerLimit bounds a tokenizer file (tokenizer.json of a 256k
	// vocabulary is about 35 MB; SentencePiece models are smaller).
	TokenizerLimit = 1 << 30
)

// ReadFile reads the regular file at path whole, refusing anything that is
// not a regular file (a device such as /dev/zero, a FIFO, a folder) and any
// file larger than limit bytes, with an error naming path.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d this kind of file may hold", path, info.Size(), limit)
	}
	// The size can change under us: read at most limit+1 bytes.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes this kind of file may hold", path, limit)
	}
	return data, nil
}

// Open opens path for reading when it is a regular file (following links),
// and is an error naming path otherwise: a FIFO would block the reader and a
// device such as /dev/zero never ends. It checks before opening, since
// opening a FIFO blocks until a writer comes.
func Open(path string) (*os.File, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, kind(info.Mode()))
	}
	return os.Open(path)
}

// kind names a file mode that is not a regular file.
func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.String()
}
