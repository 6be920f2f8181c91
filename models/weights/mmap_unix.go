//go:build unix

package weights

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of path read-only into memory, shared with the
// page cache: reading a tensor then copies straight from the cached file
// into its destination (no read buffer, no second copy). It returns nil
// where the file cannot be mapped, and the caller reads it instead.
func mapFile(path string, size int64) []byte {
	if size <= 0 || int64(int(size)) != size {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return data
}

// unmapFile releases a mapping made by mapFile.
func unmapFile(data []byte) { _ = syscall.Munmap(data) }

// willNeed asks the kernel to start reading region of a mapping (a tensor
// about to be copied) from disk, where it is not cached yet.
func willNeed(mapping []byte, start, end int64) {
	page := int64(os.Getpagesize())
	start -= start % page
	if start < 0 || end > int64(len(mapping)) || start >= end {
		return
	}
	_ = syscall.Madvise(mapping[start:end], syscall.MADV_WILLNEED)
}
