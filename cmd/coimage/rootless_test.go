//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// The rootless test builds Debian 13 minbase as an ordinary user, made by
// the test with subordinate id ranges, through newuidmap/newgidmap, and
// compares the image with a root build of the same recipe and packages.

const (
	rootlessUser = "coimage-rootless" // gets subordinate ranges
	noRangesUser = "coimage-noranges" // a system user: none
	rootlessSubs = "1200000-1265535"  // unlikely to meet other ranges
)

// ensureUser creates name unless it exists, with subordinate id ranges
// unless system, and removes what it made when the test ends (userdel
// drops the user's group and ranges too). A user left by a killed run is
// reused, given the ranges it lacks or stripped of those it must not have.
func ensureUser(t *testing.T, name string, system bool) *user.User {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		args := []string{"--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name}
		if system {
			args = append([]string{"--system"}, args...)
		}
		testutil.Run(t, "useradd", args...)
		t.Cleanup(func() {
			if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
				t.Errorf("userdel %s: %v: %s", name, err, out)
			}
		})
	}
	hasRanges := exec.Command("grep", "-q", "^"+name+":", "/etc/subuid", "/etc/subgid").Run() == nil
	switch {
	case !system && !hasRanges:
		testutil.Run(t, "usermod", "--add-subuids", rootlessSubs, "--add-subgids", rootlessSubs, name)
	case system && hasRanges:
		testutil.Run(t, "sed", "-i", "/^"+name+":/d", "/etc/subuid", "/etc/subgid")
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// sharedDir makes a directory under $TMPDIR that u may write and everyone
// read (t.TempDir's parent is private to root).
func sharedDir(t *testing.T, u *user.User) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "coimage-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	testutil.Run(t, "chown", u.Uid+":"+u.Gid, dir)
	if err := os.Chmod(dir, 0o755); err != nil { // others read the recipe
		t.Fatal(err)
	}
	return dir
}

// asUser runs coimage as u with a clean environment.
func asUser(t *testing.T, u *user.User, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("setpriv", append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--",
		"env", "-i", "PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "SOURCE_DATE_EPOCH=" + testEpoch, coimageBin}, args...)...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestBuildRootless(t *testing.T) {
	requireBuild(t)
	for _, tool := range []string{"newuidmap", "newgidmap", "setpriv", "useradd", "usermod", "userdel"} {
		testutil.RequireTool(t, tool)
	}
	u := ensureUser(t, rootlessUser, false)
	// coimage's test binary must be reachable for the user.
	testutil.Run(t, "chmod", "a+rx", filepath.Dir(coimageBin), coimageBin)

	recipeDir := sharedDir(t, u)
	recipe := filepath.Join(recipeDir, "minbase.yaml")
	if err := os.WriteFile(recipe, []byte("image:\n  name: minbase\n  distribution: debian\n  release: trixie\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootOut, rootManifest, _ := buildImage(t, recipe)
	if rootManifest.Mode != "root" {
		t.Errorf("root build reports mode %q", rootManifest.Mode)
	}

	// The user's own cache, seeded with the verified downloads (they are
	// checked again on use) so that the test downloads nothing.
	cache := filepath.Join(sharedDir(t, u), "cache")
	for _, area := range []string{"indices", "lists"} {
		if _, err := os.Stat(filepath.Join(buildCache(t), area)); err == nil {
			testutil.Run(t, "mkdir", "-p", cache)
			testutil.Run(t, "cp", "-a", filepath.Join(buildCache(t), area), cache)
		}
	}
	debs := filepath.Join(cache, "debs", "sha256")
	testutil.Run(t, "mkdir", "-p", debs)
	for _, p := range rootManifest.Packages {
		testutil.Run(t, "cp", filepath.Join(buildCache(t), "debs", "sha256", p.SHA256), debs)
	}
	testutil.Run(t, "chown", "-R", u.Uid+":"+u.Gid, cache)

	for i, want := range []string{"", "base cache: restored"} {
		out := filepath.Join(sharedDir(t, u), "out")
		stdout, stderr, code := asUser(t, u, "build", "--json", "--verbose", "--cache", cache, "--output", out, recipe)
		if code != 0 {
			t.Fatalf("rootless build %d: exit %d\n%s", i+1, code, lastLines(stderr, 30))
		}
		var m buildManifest
		if err := json.Unmarshal([]byte(stdout), &m); err != nil {
			t.Fatalf("manifest: %v\n%s", err, stdout)
		}
		if m.Mode != "rootless" {
			t.Errorf("rootless build reports mode %q", m.Mode)
		}
		if want != "" && !strings.Contains(stderr, want) {
			t.Errorf("rootless build %d: log lacks %q:\n%s", i+1, want, lastLines(stderr, 20))
		}
		img := filepath.Join(out, "minbase.img")
		if m.Image.SHA256 != rootManifest.Image.SHA256 || testutil.Run(t, "cmp", img, filepath.Join(rootOut, "minbase.img")) != "" {
			t.Errorf("rootless build %d: image %s differs from the root build's %s", i+1, m.Image.SHA256, rootManifest.Image.SHA256)
		}
		fi, err := os.Stat(img)
		if err != nil {
			t.Fatal(err)
		}
		if owner := fmt.Sprint(fileUID(fi)); owner != u.Uid {
			t.Errorf("image owned by uid %s, want the user's %s", owner, u.Uid)
		}
	}
	// Ownership inside the image is the packages', not the user's, and
	// /dev holds the device nodes mmdebstrap's images have, though the
	// rootless build could not mknod them.
	img := filepath.Join(rootOut, "minbase.img")
	if stat := testutil.Run(t, "debugfs", "-R", "stat /usr/sbin/unix_chkpwd", img); !strings.Contains(stat, "Group:    42") {
		t.Errorf("unix_chkpwd is not group shadow:\n%s", stat)
	}
	for node, want := range map[string]string{"null": "01:03", "zero": "01:05", "console": "05:01", "tty": "05:00", "urandom": "01:09", "ptmx": "05:02"} {
		stat := testutil.Run(t, "debugfs", "-R", "stat /dev/"+node, img)
		for _, w := range []string{"Type: character special", "Mode:  0666", "User:     0   Group:     0", "Device major/minor number: " + want} {
			if !strings.Contains(stat, w) {
				t.Errorf("/dev/%s lacks %q:\n%s", node, w, stat)
			}
		}
	}

	// Without subordinate ranges the build says what to add.
	nobody := ensureUser(t, noRangesUser, true)
	out := sharedDir(t, nobody)
	_, stderr, code := asUser(t, nobody, "build", "--cache", filepath.Join(out, "cache"), "--output", out, recipe)
	for _, want := range []string{"/etc/subuid", "usermod --add-subuids"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("no ranges: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
}

func fileUID(fi os.FileInfo) uint32 { return fi.Sys().(*syscall.Stat_t).Uid }
