//go:build !unix

package weights

// mapFile maps nothing on this system: safetensors are read with reads.
func mapFile(path string, size int64) []byte { return nil }

func unmapFile(data []byte) {}

func willNeed(mapping []byte, start, end int64) {}
