package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kernelProbe asks the installed GoNB kernel, through Debian's
// jupyter_client (what Jupyter's own page uses), to complete "fmt.Prin" and
// to inspect "fmt.Println", in a cell that imports fmt, and prints the
// replies as JSON.
const kernelProbe = `
import json, sys
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="gonb", cwd=sys.argv[1])
try:
    code = 'import "fmt"\n\n%%\nfmt.Prin'
    kc.complete(code, len(code))
    complete = kc.get_shell_msg(timeout=240)["content"]
    code = 'import "fmt"\n\n%%\nfmt.Println("x")'
    kc.inspect(code, code.index("Println") + 3)
    inspect = kc.get_shell_msg(timeout=240)["content"]
    print(json.dumps({"complete": complete, "inspect": inspect}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
`

// TestKernelCompletesAndShowsDocs checks what `make setup` promises the
// notebooks: GoNB finds gopls (pinned in tools/go.mod, installed into
// .deps/bin, on the kernel's PATH), so Tab completes and Shift-Tab shows a
// function's documentation.
func TestKernelCompletesAndShowsDocs(t *testing.T) {
	notebooks, err := filepath.Abs(filepath.Join("..", "..", "notebooks"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", kernelProbe, notebooks).Output()
	if err != nil {
		stderr := ""
		if e, ok := err.(*exec.ExitError); ok {
			stderr = string(e.Stderr)
		}
		t.Fatalf("probing the gonb kernel (installed by make setup): %v\n%s", err, stderr)
	}
	var r struct {
		Complete struct {
			Status  string   `json:"status"`
			Matches []string `json:"matches"`
		} `json:"complete"`
		Inspect struct {
			Status string            `json:"status"`
			Found  bool              `json:"found"`
			Data   map[string]string `json:"data"`
		} `json:"inspect"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	found := false
	for _, m := range r.Complete.Matches {
		found = found || strings.Contains(m, "Println")
	}
	if r.Complete.Status != "ok" || !found {
		t.Errorf("completing fmt.Prin: status %q, matches %q; want Println among them (is gopls in .deps/bin?)", r.Complete.Status, r.Complete.Matches)
	}
	doc := r.Inspect.Data["text/plain"] + r.Inspect.Data["text/markdown"]
	if !r.Inspect.Found || !strings.Contains(doc, "Println formats") {
		t.Errorf("inspecting fmt.Println: found %v, %q; want its documentation", r.Inspect.Found, doc)
	}
	t.Logf("completions of fmt.Prin: %q; docs of fmt.Println: %.80q…", r.Complete.Matches, doc)
}
