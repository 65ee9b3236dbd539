package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// The Debian test builds recipes/debian.yaml with coimage, which needs root
// and a Debian mirror: it skips without them, and fails under CI=true. The
// package cache is the one cmd/coimage's build tests share, so a warm run
// downloads nothing.

const (
	debianRecipe = "../../recipes/debian.yaml"
	debianConf   = "../../recipes/debian.conf"
)

func requireDebianBuild(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and boots the Debian image: skipped with -short")
	}
	testutil.Require(t, os.Geteuid() == 0, "coimage build needs root")
	_, err := archive.MirrorFrom("")
	testutil.Require(t, err == nil, "no Debian mirror configured")
	for _, tool := range []string{"mke2fs", "e2fsck"} {
		testutil.RequireTool(t, tool)
	}
}

// buildDebian builds recipes/debian.yaml into a temporary directory and
// returns the image.
func buildDebian(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	coimage := filepath.Join(dir, "coimage")
	if out, err := exec.Command("go", "build", "-o", coimage, "../coimage").CombinedOutput(); err != nil {
		t.Fatalf("build coimage: %v\n%s", err, out)
	}
	cache := os.Getenv("COIMAGE_TEST_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "coimage-test-cache")
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(coimage, "build", "--cache", cache, "--output", out, debianRecipe)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("coimage build %s: %v\n%s", debianRecipe, err, b)
	}
	return filepath.Join(out, "debian-12.img")
}

// TestDebianBoot boots the Debian image: a command, then systemd to the
// login prompt, detached; corun stop shuts it down within 10 s and the
// image is e2fsck-clean afterwards.
func TestDebianBoot(t *testing.T) {
	requireDebianBuild(t)
	kernel := kernelArg(t)
	img := buildDebian(t)

	out, errOut, code := run(t, "run", img, "@"+debianConf, kernel, "--", "cat", "/etc/os-release")
	if code != 0 || !strings.Contains(out, `VERSION_ID="12"`) {
		t.Fatalf("cat /etc/os-release: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	log := filepath.Join(t.TempDir(), "console.log")
	start := time.Now()
	out, errOut, code = run(t, "run", "--detach", "--name", "debian", "--log", log, img, "@"+debianConf, kernel)
	if code != 0 {
		t.Fatalf("run --detach: exit %d, %q %q", code, out, errOut)
	}
	stopped := false
	defer func() {
		if !stopped {
			run(t, "stop", "--force", "debian")
		}
	}()
	var console string
	for {
		b, _ := os.ReadFile(log)
		console = strings.ReplaceAll(string(b), "\r", "")
		if strings.Contains(console, "login:") {
			break
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("no login prompt after %v; console:\n%s", time.Since(start), lastLines(console, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("login prompt after %v", time.Since(start).Round(100*time.Millisecond))
	// With "quiet", systemd prints a unit's status only when it fails.
	if strings.Contains(console, "FAILED") {
		t.Errorf("a unit failed during boot:\n%s", lastLines(console, 40))
	}

	start = time.Now()
	_, errOut, code = run(t, "stop", "debian")
	stopped = code == 0
	if code != 0 {
		t.Fatalf("stop: exit %d: %s", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %v", d)
	}
	testutil.Run(t, "e2fsck", "-fn", img)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
