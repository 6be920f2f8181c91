//go:build !goexperiment.simd

package xla

// simdBuild reports whether this binary was built with GOEXPERIMENT=simd, which
// the go backend needs for its AVX2/AVX-512 kernels.
const simdBuild = false
