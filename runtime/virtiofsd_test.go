package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// TestFetchVirtiofsd fetches the real virtiofsd with its libraries (from
// a release that packages it) and runs it through their loader; the
// cache then answers, and a missing library is named.
func TestFetchVirtiofsd(t *testing.T) {
	if testing.Short() {
		t.Skip("online test")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := Cache{Dir: t.TempDir()}
	cmd, err := c.FetchVirtiofsd(ctx, Source{})
	if err != nil {
		var se *archive.StatusError
		if os.Getenv("CI") != "true" && !errors.As(err, &se) && !errors.Is(err, archive.ErrSignature) {
			t.Skipf("Debian mirror unreachable: %v", err)
		}
		t.Fatal(err)
	}
	out, err := exec.Command(cmd[0], append(cmd[1:], "--version")...).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "virtiofsd ") {
		t.Fatalf("%v --version: %q, %v", cmd, out, err)
	}
	if cached, ok := c.latestVirtiofsd(); !ok || strings.Join(cached, " ") != strings.Join(cmd, " ") {
		t.Errorf("cache: %v, %v; want %v", cached, ok, cmd)
	}
	lib := filepath.Join(cmd[2], "libseccomp.so.2")
	if err := os.Remove(lib); err != nil {
		t.Fatal(err)
	}
	if _, err := virtiofsdCommand(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(lib))))); err == nil || !strings.Contains(err.Error(), "libseccomp.so.2") {
		t.Errorf("without libseccomp: %v, want an error naming it", err)
	}
	if _, ok := c.latestVirtiofsd(); ok {
		t.Error("an incomplete cache entry was used")
	}
}
