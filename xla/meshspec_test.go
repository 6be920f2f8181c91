package xla

import (
	"strings"
	"testing"
)

// TestSpecForDevices checks the backend spec a mesh of n devices asks for:
// host devices of XLA's CPU plugin by default, devices=n added to an XLA
// spec, and errors for one-device engines and specs with too few devices.
func TestSpecForDevices(t *testing.T) {
	t.Setenv(EnvBackend, "")
	t.Setenv(EnvGoMLXBackend, "")
	for _, c := range []struct {
		spec string
		n    int
		want string // the spec, or a piece of the error after "error: "
	}{
		{"", 1, ""},
		{"go", 1, "go"},
		{"", 4, "xla:cpu,devices=4"},
		{"xla", 2, "xla:cpu,devices=2"},
		{"xla:cuda", 2, "xla:cuda,devices=2"},
		{"xla:cpu,devices=8", 4, "xla:cpu,devices=8"},
		{"xla:cpu,devices=2", 4, `error: backend "xla:cpu,devices=2" has 2 devices and the mesh needs 4`},
		{"go", 2, `error: backend "go" has one device and the mesh needs 2`},
		{"onnx:cpu", 2, `error: backend "onnx:cpu" has one device`},
		{"xla:cpu,devices=x", 2, `error: backend "xla:cpu,devices=x": option devices="x"`},
	} {
		got, err := SpecForDevices(c.spec, c.n)
		if want, ok := strings.CutPrefix(c.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("SpecForDevices(%q, %d) = %q, %v; want an error holding %q", c.spec, c.n, got, err, want)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("SpecForDevices(%q, %d) = %q, %v; want %q", c.spec, c.n, got, err, c.want)
		}
	}
	t.Setenv(EnvBackend, "xla:cpu,devices=3")
	if got, err := SpecForDevices("", 2); err != nil || got != "xla:cpu,devices=3" {
		t.Errorf("with %s=xla:cpu,devices=3: SpecForDevices(\"\", 2) = %q, %v", EnvBackend, got, err)
	}
}
