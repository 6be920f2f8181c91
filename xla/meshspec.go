package xla

import (
	"fmt"
	"strings"
)

// SpecForDevices returns the backend spec to create for a mesh of n
// devices, from spec as a user gave it (empty: TRUSTFORMERS_BACKEND or
// GOMLX_BACKEND, else XLA's CPU plugin). An XLA spec without a "devices"
// option gets "devices=n", so that XLA's CPU plugin presents n host devices
// (its client option cpu_device_count); one that asks for fewer than n
// devices, and the go and ONNX Runtime engines, which have one device, are
// errors that name the spec and the count. n ≤ 1 returns spec unchanged.
func SpecForDevices(spec string, n int) (string, error) {
	if n <= 1 {
		return spec, nil
	}
	if spec == "" {
		spec, _ = Requested()
	}
	if spec == "" {
		spec = "xla:cpu"
	}
	s, err := ParseSpec(spec)
	if err != nil {
		return "", err
	}
	config, devices, err := devicesOption(s.Config)
	if err != nil {
		return "", fmt.Errorf("backend %q: %w", spec, err)
	}
	if s.Engine != "xla" {
		return "", fmt.Errorf("backend %q has one device and the mesh needs %d: several devices need XLA (use -backend xla:cpu, which presents %d host devices)", spec, n, n)
	}
	if devices > 0 && devices < n {
		return "", fmt.Errorf("backend %q has %d devices and the mesh needs %d", spec, devices, n)
	}
	if devices > 0 {
		return spec, nil
	}
	if config == "" {
		config = "cpu"
	}
	return fmt.Sprintf("xla:%s,devices=%d", strings.TrimSuffix(config, ","), n), nil
}
