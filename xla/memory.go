package xla

import (
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MemoryLeft returns the bytes of host memory this process may still take:
// the machine's available memory (MemAvailable), or less under an
// address-space limit (ulimit -v) once what the process has mapped is taken
// off; 0 when unknown. Allocations sized by their input (a KV cache for a
// context of millions of tokens) are checked against it, so that they fail
// with an error instead of killing the process.
func MemoryLeft() float64 {
	have := procKB("/proc/meminfo", "MemAvailable:") * 1024
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err == nil && lim.Cur != math.MaxUint64 {
		left := float64(lim.Cur) - procKB("/proc/self/status", "VmSize:")*1024
		if have == 0 || left < have {
			have = max(left, 1)
		}
	}
	return have
}

// AddressSpaceLeft returns the bytes of address space this process may
// still map under its address-space limit (ulimit -v), or +Inf when it
// has none. Thread stacks and reservations count here before they are
// touched, which MemoryLeft's physical memory does not see.
func AddressSpaceLeft() float64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil || lim.Cur == math.MaxUint64 {
		return math.Inf(1)
	}
	return max(float64(lim.Cur)-procKB("/proc/self/status", "VmSize:")*1024, 0)
}

// procKB reads the kB figure of the line starting with key in a /proc file
// (0 when there is none).
func procKB(path, key string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					return kb
				}
			}
		}
	}
	return 0
}
