package models

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trustformers/trustformers-go/internal/golden"
	"github.com/trustformers/trustformers-go/models/modeling"
)

func TestLoadPicksTheFamily(t *testing.T) {
	backend := golden.Backend(t)
	for _, tc := range []struct{ path, modelType string }{
		{filepath.Join(golden.Dir("gpt2"), "model"), "gpt2"},
		{filepath.Join(golden.Dir("bert"), "model"), "bert"},
		{filepath.Join(golden.Dir("llama"), "model"), "llama"},
		{filepath.Join(golden.Dir("mistral"), "model"), "mistral"},
		{filepath.Join(golden.Dir("llama"), "model.bin"), "llama"},
	} {
		m, err := Load(tc.path, backend)
		if err != nil {
			t.Fatalf("Load(%s): %v", tc.path, err)
		}
		if m.ModelType() != tc.modelType {
			t.Errorf("Load(%s) gave a %q model, want %q", tc.path, m.ModelType(), tc.modelType)
		}
	}
}

func TestUnknownModelTypeListsSupported(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"t5"}`), 0o644)
	_, err := Load(dir, golden.Backend(t))
	if err == nil || !strings.Contains(err.Error(), `"t5"`) || !strings.Contains(err.Error(), "bert, gemma2, gemma3_text, gpt2, llama, mistral") {
		t.Fatalf("unknown model type: err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"vocab_size":3}`), 0o644)
	if _, err := Load(dir, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), `"model_type"`) {
		t.Fatalf("config without model_type: err = %v", err)
	}
}

// copyModel copies a golden model folder's files into dir.
func copyModel(t *testing.T, src, dir string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
}

func TestResolveThroughTheCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HUB_OFFLINE", "1")
	repo := filepath.Join(home, "hub", "models--tiny--gpt2")
	copyModel(t, filepath.Join(golden.Dir("gpt2"), "model"), filepath.Join(repo, "snapshots", "abc123"))
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("abc123\n"), 0o644)

	m, err := Load("tiny/gpt2", golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.ModelType() != "gpt2" {
		t.Fatalf("cached tiny/gpt2 loaded as %q", m.ModelType())
	}
	if _, err := Load("tiny/absent", golden.Backend(t)); err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("offline, uncached model: err = %v", err)
	}
}

// fakeHub serves one model the way the Hugging Face Hub API does, for
// go-huggingface's downloader: the revision info with the file list, and the
// files under resolve/<commit>/.
func fakeHub(t *testing.T, id, src string) (*httptest.Server, *atomic.Int64) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	files := []string{"config.json", "model.safetensors"}
	var requests atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/api/models/"+id+"/revision/main", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var siblings []map[string]string
		for _, f := range files {
			siblings = append(siblings, map[string]string{"rfilename": f})
		}
		json.NewEncoder(w).Encode(map[string]any{"id": id, "modelId": id, "sha": sha, "siblings": siblings})
	})
	mux.HandleFunc("/"+id+"/resolve/"+sha+"/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		name := filepath.Base(r.URL.Path)
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Repo-Commit", sha)
		w.Header().Set("ETag", `"etag-`+name+`"`)
		w.Write(data)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestDownloadFromAHub(t *testing.T) {
	src := filepath.Join(golden.Dir("llama"), "model")
	srv, requests := fakeHub(t, "tiny/llama", src)
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	m, err := Load("tiny/llama", golden.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	if requests.Load() == 0 {
		t.Fatal("the model loaded without a request to the hub")
	}
	g := golden.Load(t, "llama")
	out, err := m.(CausalLM).Forward(modeling.Batch{IDs: golden.IDs(t, g, "input_ids")}, modeling.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, g, "logits", out.Logits, golden.Tolerance)
	// Now it is cached: offline works and asks nothing.
	before := requests.Load()
	t.Setenv("HF_HUB_OFFLINE", "1")
	if _, err := Load("tiny/llama", golden.Backend(t)); err != nil {
		t.Fatalf("cached model offline: %v", err)
	}
	if requests.Load() != before {
		t.Fatalf("loading a cached model made %d requests", requests.Load()-before)
	}
}

// TestCacheRefMustNameASnapshot plants a refs/main that points out of the
// cache: loading is an error naming the file, and nothing outside is read.
func TestCacheRefMustNameASnapshot(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HUB_OFFLINE", "1")
	// A model folder outside the cache that the ref would reach.
	copyModel(t, filepath.Join(golden.Dir("gpt2"), "model"), filepath.Join(home, "outside"))
	repo := filepath.Join(home, "hub", "models--evil--gpt2")
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	for _, ref := range []string{"../../../outside", "/etc", "a/b", ".."} {
		os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(ref+"\n"), 0o644)
		_, err := Load("evil/gpt2", golden.Backend(t))
		if err == nil || !strings.Contains(err.Error(), filepath.Join(repo, "refs", "main")) || !strings.Contains(err.Error(), "not a snapshot name") {
			t.Errorf("refs/main = %q: err = %v; want an error naming the file", ref, err)
		}
	}
	for _, id := range []string{"evil/..", "../evil", "evil/a/b", "evil/.hidden"} {
		if _, err := Load(id, golden.Backend(t)); err == nil || !strings.Contains(err.Error(), "no such model folder") {
			t.Errorf("Load(%q): err = %v; want no such model folder", id, err)
		}
	}
}

// TestFailedDownloadLeavesNoFolder downloads from a hub that lists a file it
// then does not serve: the error leaves no models--… folder in the cache.
func TestFailedDownloadLeavesNoFolder(t *testing.T) {
	srv, _ := fakeHub(t, "tiny/broken", t.TempDir()) // lists config.json and model.safetensors, serves neither
	t.Setenv("HF_ENDPOINT", srv.URL)
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	if _, err := Load("tiny/broken", golden.Backend(t)); err == nil {
		t.Fatal("a download whose files are missing succeeded")
	}
	if _, err := os.Stat(filepath.Join(home, "hub", "models--tiny--broken")); !errors.Is(err, fs.ErrNotExist) {
		entries, _ := os.ReadDir(filepath.Join(home, "hub"))
		t.Errorf("failed download left its folder behind (stat: %v; cache holds %v)", err, entries)
	}
}
