// Package files is how the project touches the file system where a crash or
// a hostile input could do harm: every file it writes for users (weights,
// configs, checkpoints, run folders) goes to a temporary name, is synced and
// renamed, so a crash never leaves half of one; every file it reads whole
// (configs, tokenizers, templates) is read with a size limit and only when
// it is a regular file, so /dev/zero or a FIFO is an error, not a hang.
//
// It imports no package of this module: every layer may use it.
package files

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes path through fill (creating its folder): fill writes the
// content to a temporary file beside path, which is synced, made readable
// (0644) and renamed over path, so that path holds either its old content
// or the new one, never part of one. A failure, the final rename included,
// removes the temporary file and is an error naming path.
func Write(path string, fill func(w io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+TempInfix+"*")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := fill(tmp); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteFile writes data to path through Write.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// TempInfix is what the temporary name of a file being written holds after
// the file's own name (".NAME" + TempInfix + random digits): what a crash
// can leave behind, and what cleaners look for.
const TempInfix = ".tmp"
