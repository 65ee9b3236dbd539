//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/pkg/release"
)

// corun run NAME pulls a release image from the configured index (served
// here on 127.0.0.1), verifies it and boots it as a snapshot, so the
// cached image stays as released; --persist boots a writable copy that the
// next run finds again.
func TestRunReleaseImage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := umltest.Image(t, dir, map[string]string{"etc/os-release": "PRETTY_NAME=\"coLinux NG release test\"\n"})
	named := filepath.Join(dir, "debian-test.img")
	if err := os.Rename(img, named); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cfgDir := filepath.Join(home, "config", "colinux")
	os.MkdirAll(filepath.Join(cfgDir, "keys"), 0o755)
	_, keyFile, err := release.GenerateKey(filepath.Join(cfgDir, "keys", "test"), "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := release.LoadPrivateKey(keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(dir, "dist")
	if _, err := release.Publish(context.Background(), []string{named}, release.Options{Key: key, Out: dist, Level: 3}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dist)))
	defer srv.Close()
	os.WriteFile(filepath.Join(cfgDir, "index"), []byte(srv.URL+"/\n"), 0o644)
	env := append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"), "XDG_DATA_HOME="+filepath.Join(home, "data"))
	corunEnv := func(args ...string) (string, string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(corun, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
		cmd.Run()
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	kernel := kernelArg(t)

	out, errOut, code := corunEnv("run", "debian-test", kernel, "--", "sh", "-c", "cat /etc/os-release; echo changed > /etc/os-release")
	if code != 0 || !strings.Contains(out, "coLinux NG release test") {
		t.Fatalf("run debian-test: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	cached, _ := filepath.Glob(filepath.Join(home, "cache", "colinux", "images", "debian-test", "*.img"))
	if len(cached) != 1 {
		t.Fatalf("cache holds %q", cached)
	}
	if sum(t, cached[0]) != sum(t, named) {
		t.Error("the guest changed the cached image: it was not booted as a snapshot")
	}

	for i, want := range []string{"coLinux NG release test", "persisted"} {
		out, errOut, code = corunEnv("run", "--persist", "debian-test", kernel, "--", "sh", "-c", "cat /etc/os-release; echo persisted > /etc/os-release")
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("run --persist, run %d: exit %d, stdout %q, stderr %q", i+1, code, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "data", "colinux", "images", "debian-test.img")); err != nil {
		t.Error(err)
	}

	_, errOut, code = corunEnv("run", "no-such-image", kernel, "--", "true")
	if code == 0 || !strings.Contains(errOut, "cobd0=no-such-image: no such file") {
		t.Errorf("run no-such-image: exit %d, stderr %q", code, errOut)
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}
