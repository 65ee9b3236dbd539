package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// keygen, release, pull and images, as a user runs them: a release
// directory on the file system, the key and index configured under
// $XDG_CONFIG_HOME, the image cached under $XDG_CACHE_HOME.
func TestReleasePullCLI(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(tree, 0o755)
	os.WriteFile(filepath.Join(tree, "hello"), bytes.Repeat([]byte("hello\n"), 100000), 0o644)
	img := filepath.Join(dir, "demo-1.img")
	testutil.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", tree, img, "4M")

	prefix := filepath.Join(dir, "signing")
	if _, stderr, code := coimage(t, "keygen", prefix); code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	if _, stderr, code := coimage(t, "keygen", prefix); code == 0 || !strings.Contains(stderr, "exists") {
		t.Fatalf("keygen over an existing key: %d %s", code, stderr)
	}
	dist := filepath.Join(dir, "dist")
	if _, stderr, code := coimage(t, "release", "--key", prefix+".key", "--out", dist, "--frame-size", "1048576", "--level", "3", img); code != 0 {
		t.Fatalf("release: %s", stderr)
	}
	testutil.Run(t, "minisign", "-Vm", filepath.Join(dist, "index.json"), "-p", prefix+".pub")

	cfg, cache := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	os.MkdirAll(filepath.Join(cfg, "colinux", "keys"), 0o755)
	os.WriteFile(filepath.Join(cfg, "colinux", "keys", "demo.pub"), testutilRead(t, prefix+".pub"), 0o644)
	os.WriteFile(filepath.Join(cfg, "colinux", "index"), []byte("file://"+dist+"/index.json\n"), 0o644)
	env := []string{"XDG_CONFIG_HOME=" + cfg, "XDG_CACHE_HOME=" + cache}

	stdout, stderr, code := coimageEnv(t, env, "pull", "--json", "demo-1")
	if code != 0 {
		t.Fatalf("pull: %s", stderr)
	}
	var res struct {
		Path  string
		Image struct{ Name, SHA256 string }
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("pull --json: %v\n%s", err, stdout)
	}
	if !strings.HasPrefix(res.Path, filepath.Join(cache, "colinux", "images", "demo-1")) || !bytes.Equal(testutilRead(t, res.Path), testutilRead(t, img)) {
		t.Fatalf("pulled to %s", res.Path)
	}
	stdout, _, _ = coimageEnv(t, env, "images")
	if !strings.Contains(stdout, "demo-1") || !strings.Contains(stdout, res.Path) {
		t.Fatalf("images:\n%s", stdout)
	}
	// A key nobody trusts: refused, nothing written.
	out := filepath.Join(dir, "out.img")
	_, stderr, code = coimageEnv(t, []string{"XDG_CONFIG_HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + cache},
		"pull", "--index", "file://"+dist+"/", "--output", out, "demo-1")
	if code == 0 || !strings.Contains(stderr, "no trusted public key") {
		t.Fatalf("pull without a trusted key: %d %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("output written")
	}
	if _, stderr, code := coimageEnv(t, env, "images", "--prune"); code != 0 {
		t.Fatalf("images --prune: %s", stderr)
	}
}

func testutilRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
