package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// TestFetch fetches the real user-mode-linux package: online, it is
// skipped when the mirror cannot be reached, except under CI=true.
func TestFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("online test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := Cache{Dir: t.TempDir()}
	if _, err := c.Latest(); !errors.Is(err, ErrNoKernel) {
		t.Fatalf("empty cache: %v", err)
	}
	k, err := c.Ensure(ctx, Source{})
	if err != nil {
		var se *archive.StatusError
		if os.Getenv("CI") != "true" && !errors.As(err, &se) && !errors.Is(err, archive.ErrSignature) {
			t.Skipf("Debian mirror unreachable: %v", err)
		}
		t.Fatal(err)
	}
	out, err := exec.Command(k.Path, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != k.Release {
		t.Errorf("%s --version = %q, %v; want release %q", k.Path, out, err, k.Release)
	}
	if k.Modules == "" {
		t.Error("no modules unpacked")
	}
	again, err := c.Ensure(ctx, Source{})
	if err != nil || again != k {
		t.Errorf("second Ensure = %+v, %v; want the cached %+v", again, err, k)
	}
	list, err := c.List()
	if err != nil || len(list) != 1 {
		t.Errorf("List = %+v, %v", list, err)
	}
}
