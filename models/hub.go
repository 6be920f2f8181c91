package models

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/go-huggingface/hub"
	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models/weights"
)

// CacheDir returns the Hugging Face hub cache folder, as the Python library
// finds it: $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
func CacheDir() string {
	if v := os.Getenv("HF_HUB_CACHE"); v != "" {
		return v
	}
	if v := os.Getenv("HF_HOME"); v != "" {
		return filepath.Join(v, "hub")
	}
	if v := os.Getenv("XDG_CACHE_HOME"); v != "" {
		return filepath.Join(v, "huggingface", "hub")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// Offline reports whether HF_HUB_OFFLINE forbids network access.
func Offline() bool {
	switch strings.ToLower(os.Getenv("HF_HUB_OFFLINE")) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// CachedSnapshot returns the snapshot folder of model id in the Hugging Face
// cache (models--org--name/snapshots/<commit of refs/main>), and whether it
// holds a config.json. A refs/main that names anything but a snapshot (a
// commit hash or a plain name: no separator, no "..") is an error naming the
// file, so a tampered cache never points outside itself.
func CachedSnapshot(id string) (string, bool, error) {
	repoDir := repoFolder(id)
	refFile := filepath.Join(repoDir, "refs", "main")
	ref, err := files.ReadFile(refFile, 4096) // a commit hash or a branch's name
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	name := strings.TrimSpace(string(ref))
	if !plainName(name) {
		return "", false, fmt.Errorf("%s: %q is not a snapshot name (want a commit hash or a plain name, without separators or \"..\")", refFile, name)
	}
	snap := filepath.Join(repoDir, "snapshots", name)
	if _, err := os.Stat(filepath.Join(snap, "config.json")); err != nil {
		return "", false, nil
	}
	return snap, true, nil
}

// repoFolder is model id's folder in the cache, as the Python library names it.
func repoFolder(id string) string {
	return filepath.Join(CacheDir(), "models--"+strings.ReplaceAll(id, "/", "--"))
}

// plainName reports whether s can name one folder inside another: letters,
// digits, '.', '_' and '-', not starting with '.'.
func plainName(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '.' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Resolve returns a local model folder for pathOrName: the folder (or
// checkpoint file: a llama2.c .bin, a .gguf) itself when it exists; else, taking it as a Hub model name, its snapshot in the Hugging
// Face cache; else, unless HF_HUB_OFFLINE=1, the snapshot after downloading
// config.json, the weights (single or sharded safetensors) and the tokenizer
// files through go-huggingface, which shows a progress line. HF_ENDPOINT
// points the download at another server; HF_TOKEN authenticates it.
func Resolve(pathOrName string) (string, error) {
	if _, err := os.Stat(pathOrName); err == nil { // a folder, or a checkpoint file (llama2.c .bin, .gguf)
		return pathOrName, nil
	}
	org, name, found := strings.Cut(pathOrName, "/")
	if !plainName(org) || found && !plainName(name) {
		return "", fmt.Errorf("%s: no such model folder", pathOrName)
	}
	snap, ok, err := CachedSnapshot(pathOrName)
	if err != nil {
		return "", err
	}
	if ok {
		return snap, nil
	}
	if Offline() {
		return "", fmt.Errorf("model %q: not a folder and not in the Hugging Face cache %s, and HF_HUB_OFFLINE forbids downloading it", pathOrName, CacheDir())
	}
	return download(pathOrName)
}

// download fetches a model's files into the cache and returns its snapshot
// folder. A download that fails leaves no folder behind that was not there
// before it.
func download(id string) (snap string, err error) {
	repoDir := repoFolder(id)
	if _, statErr := os.Stat(repoDir); errors.Is(statErr, fs.ErrNotExist) {
		defer func() {
			if err != nil {
				_ = os.RemoveAll(repoDir)
			}
		}()
	}
	repo := hub.New(id).WithCacheDir(CacheDir()).WithProgressBar(true)
	if token := os.Getenv("HF_TOKEN"); token != "" {
		repo = repo.WithAuth(token)
	}
	if err := repo.DownloadInfo(false); err != nil {
		return "", fmt.Errorf("model %q: %w", id, err)
	}
	available := map[string]bool{}
	for name, err := range repo.IterFileNames() {
		if err != nil {
			return "", fmt.Errorf("model %q: listing files: %w", id, err)
		}
		available[name] = true
	}
	if !available["config.json"] {
		return "", fmt.Errorf("model %q has no config.json", id)
	}
	want := []string{"config.json"}
	switch {
	case available[weights.SafetensorsFile]:
		want = append(want, weights.SafetensorsFile)
	case available[weights.SafetensorsIndex]:
		want = append(want, weights.SafetensorsIndex)
		for name := range available {
			if strings.HasPrefix(name, "model-") && strings.HasSuffix(name, ".safetensors") {
				want = append(want, name)
			}
		}
	default:
		return "", errors.New("model " + id + " has no model.safetensors (PyTorch .bin weights are not read)")
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
		"merges.txt", "vocab.txt", "tokenizer.model", "generation_config.json"} {
		if available[f] {
			want = append(want, f)
		}
	}
	paths, err := repo.DownloadFiles(want...)
	if err != nil {
		return "", fmt.Errorf("model %q: %w", id, err)
	}
	fmt.Println()
	snap = filepath.Dir(paths[0])
	// Record the revision as the Python library does (refs/main holds the
	// commit), so that both find the snapshot offline.
	refs := filepath.Join(filepath.Dir(filepath.Dir(snap)), "refs")
	if err := os.MkdirAll(refs, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(refs, "main"), []byte(filepath.Base(snap)), 0o644)
	}
	return snap, nil
}
