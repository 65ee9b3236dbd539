package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// TestFetch fetches the real user-mode-linux package: online, it is
// skipped when the mirror cannot be reached, except under CI=true.
func TestFetch(t *testing.T) {
	c, k := fetch(t, UML)
	out, err := exec.Command(k.Path, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != k.Release {
		t.Errorf("%s --version = %q, %v; want release %q", k.Path, out, err, k.Release)
	}
	// The suite chosen is one whose kernel this host runs, in the mode
	// its release supports.
	glibc, _ := HostGlibc()
	if !hostCanRun(k.Path, glibc) || k.Mode != umltest.Mode(k.Release) {
		t.Errorf("kernel %s (mode %s): the host's glibc %s cannot run it, or want mode %s", k.Release, k.Mode, glibc, umltest.Mode(k.Release))
	}
	list, err := c.List()
	if err != nil || len(list) != 1 {
		t.Errorf("List = %+v, %v", list, err)
	}
}

// TestFetchQEMU fetches the real cloud kernel through its metapackage:
// the boot image's own version string names the module tree unpacked
// beside it, and kernel= of that image finds the same release.
func TestFetchQEMU(t *testing.T) {
	c, k := fetch(t, QEMU)
	o, err := c.Override(QEMU, k.Path)
	if err != nil || o.Release != k.Release {
		t.Fatalf("Override(qemu, %s) = %+v, %v; want release %s", k.Path, o, err, k.Release)
	}
	if _, err := c.Override(QEMU, "/bin/true"); err == nil || !strings.Contains(err.Error(), "bzImage") {
		t.Errorf("Override(qemu, /bin/true) = %v, want a not-a-bzImage error", err)
	}
}

// fetch runs Ensure twice on an empty cache: the second must not fetch.
func fetch(t *testing.T, monitor string) (Cache, Kernel) {
	if testing.Short() {
		t.Skip("online test")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := Cache{Dir: t.TempDir()}
	if _, err := c.Latest(monitor); !errors.Is(err, ErrNoKernel) {
		t.Fatalf("empty cache: %v", err)
	}
	k, err := c.Ensure(ctx, Source{Monitor: monitor})
	if err != nil {
		var se *archive.StatusError
		if os.Getenv("CI") != "true" && !errors.As(err, &se) && !errors.Is(err, archive.ErrSignature) {
			t.Skipf("Debian mirror unreachable: %v", err)
		}
		t.Fatal(err)
	}
	if k.Monitor != monitor || k.Modules == "" || k.Release == "" {
		t.Errorf("kernel %+v: want monitor %s, a release and its modules", k, monitor)
	}
	again, err := c.Ensure(ctx, Source{Monitor: monitor})
	if err != nil || again != k {
		t.Errorf("second Ensure = %+v, %v; want the cached %+v", again, err, k)
	}
	return c, k
}
