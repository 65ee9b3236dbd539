package bootstrap

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// shTree makes a root holding the host's dash as /bin/sh with the
// libraries it needs: enough to chroot into.
func shTree(t *testing.T) string {
	t.Helper()
	testutil.Require(t, os.Geteuid() == 0, "chroot tests need root")
	dash := testutil.RequireTool(t, "dash")
	root := t.TempDir()
	files := []string{dash}
	for _, f := range strings.Fields(testutil.Run(t, "ldd", dash)) {
		if strings.HasPrefix(f, "/") {
			files = append(files, f)
		}
	}
	for _, f := range files {
		dst := filepath.Join(root, f)
		if f == dash {
			dst = filepath.Join(root, "bin/sh")
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		testutil.Run(t, "cp", "-L", f, dst)
	}
	return root
}

func TestChrootScriptError(t *testing.T) {
	root := shTree(t)
	c := &Chroot{Root: root}
	err := c.Run(context.Background(), "probe", `echo out; echo err >&2; read x < /proc/self/mountinfo && echo mounted; test -x /usr/sbin/policy-rc.d && echo policy; [ /proc/1/root -ef / ] || echo ischroot; exit 3`)
	var se *ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("want a ScriptError, got %v", err)
	}
	if se.Status != 3 || se.Name != "probe" {
		t.Errorf("status %d name %q", se.Status, se.Name)
	}
	// ischroot compares / with PID 1's root: package scripts must see a chroot.
	for _, want := range []string{"out", "err", "mounted", "policy", "ischroot"} {
		if !strings.Contains(se.Output, want) {
			t.Errorf("output lacks %q: %q", want, se.Output)
		}
	}
	assertUnmounted(t, root)
	if _, err := os.Lstat(filepath.Join(root, "usr/sbin/policy-rc.d")); err == nil {
		t.Error("policy-rc.d left behind")
	}
}

func TestChrootCancel(t *testing.T) {
	root := shTree(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := (&Chroot{Root: root}).Run(ctx, "spin", "while :; do :; done")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the context's error, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
	assertUnmounted(t, root)
	if err := RemoveTree(root); err != nil {
		t.Error(err)
	}
}

func assertUnmounted(t *testing.T, root string) {
	t.Helper()
	mounts, err := MountsUnder(root)
	if err != nil || len(mounts) > 0 {
		t.Errorf("mounts survive below %s: %v %v", root, mounts, err)
	}
	if out, _ := exec.Command("grep", "-c", root, "/proc/self/mountinfo").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Errorf("mountinfo names %s", root)
	}
}

func TestMountsUnderIgnoresChildNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "m")
	os.Mkdir(sub, 0o755)
	// A mount in this test's own namespace would be the host's: use a
	// child namespace and ask it.
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs none "+sub+" && grep -c "+sub+" /proc/self/mountinfo").CombinedOutput()
	if err != nil {
		t.Skipf("unshare: %v %s", err, out)
	}
	if mounts, _ := MountsUnder(dir); len(mounts) != 0 {
		t.Errorf("a child namespace's mount leaked: %v", mounts)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b\011c`); got != "/tmp/a b\tc" {
		t.Errorf("got %q", got)
	}
}
