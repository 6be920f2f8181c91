package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serve starts scripts/notebook.sh as the container starts it (listening on
// every interface) with env, on a free port, and returns the port and what
// the script and Jupyter print; the server is stopped when t ends.
func serve(t *testing.T, env ...string) (port int, output func() string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("bash", "../notebook.sh")
	cmd.Env = append(os.Environ(), append([]string{"JUPYTER_IP=0.0.0.0", fmt.Sprintf("JUPYTER_PORT=%d", port),
		"JUPYTER_TOKEN=", "TRUSTFORMERS_NOTEBOOK_NO_TOKEN=", "HOME=" + t.TempDir()}, env...)...)
	var mu sync.Mutex
	var buf bytes.Buffer
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			buf.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	output = func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port, output
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jupyter did not listen on port %d within a minute:\n%s", port, output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// status returns the HTTP status of GET path on the server.
func status(t *testing.T, port int, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestNotebookServerRequiresAToken starts the container's notebook command
// and checks that Jupyter refuses a request without the token it printed
// (and one with a wrong token), and serves one with it.
func TestNotebookServerRequiresAToken(t *testing.T) {
	requireJupyter(t)
	port, output := serve(t)
	m := regexp.MustCompile(`\?token=([0-9a-f]{48})`).FindStringSubmatch(output())
	if m == nil {
		t.Fatalf("notebook.sh printed no URL with a token:\n%s", output())
	}
	token := m[1]
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusForbidden}, {"0123456789abcdef", http.StatusForbidden}, {token, http.StatusOK}} {
		if got := status(t, port, "/api/contents", tc.token); got != tc.want {
			t.Errorf("GET /api/contents with token %q: %d, want %d", tc.token, got, tc.want)
		}
	}
	// The notebook page itself sends a visitor without the token to the login page.
	if got := status(t, port, "/tree", ""); got != http.StatusFound {
		t.Errorf("GET /tree without a token: %d, want a redirect to the login page", got)
	}
	if ps, err := exec.Command("ps", "-eo", "args").Output(); err == nil && strings.Contains(string(ps), token) {
		t.Errorf("the token is visible in the process list")
	}
}

// TestNotebookServerWithoutTokenWarns checks the explicit opt-out: served
// without a token, and a warning saying so.
func TestNotebookServerWithoutTokenWarns(t *testing.T) {
	requireJupyter(t)
	port, output := serve(t, "TRUSTFORMERS_NOTEBOOK_NO_TOKEN=1")
	if !strings.Contains(output(), "WITHOUT A TOKEN") {
		t.Errorf("no warning printed:\n%s", output())
	}
	if got := status(t, port, "/api/contents", ""); got != http.StatusOK {
		t.Errorf("GET /api/contents without a token on an opted-out server: %d, want 200", got)
	}
}
