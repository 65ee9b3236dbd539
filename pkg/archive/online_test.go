package archive

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
	"time"
)

// unreachable skips the test, or fails it under CI=true, where the mirror
// must be reachable.
func unreachable(t *testing.T, format string, args ...any) {
	t.Helper()
	testutil.Require(t, false, fmt.Sprintf(format, args...))
}

// TestOnlineBookworm runs the whole chain against the host's real Debian
// mirror: keyring -> InRelease -> Packages.xz -> minbase -> one .deb.
func TestOnlineBookworm(t *testing.T) {
	if testing.Short() {
		t.Skip("online test: skipped with -short")
	}
	mirror, err := MirrorFrom("")
	if err != nil {
		unreachable(t, "online test: %v", err)
	}
	if _, err := os.Stat(DefaultKeyring); err != nil {
		unreachable(t, "online test: Debian keyring missing: %v", err)
	}
	// A normal run takes about 10 s, most of it decompressing the 50 MB
	// Packages index; the bound leaves room for -race on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := &Client{Mirror: mirror, Suite: "bookworm", Arch: "amd64", CacheDir: t.TempDir()}

	start := time.Now()
	rel, err := c.Release(ctx)
	var ue *url.Error
	var se *StatusError
	if errors.As(err, &ue) || errors.As(err, &se) {
		unreachable(t, "online test: mirror unreachable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rel.Codename != "bookworm" || rel.Files["main/binary-amd64/Packages.xz"].Size == 0 {
		t.Fatalf("unexpected Release: codename %q, %d files", rel.Codename, len(rel.Files))
	}
	t.Logf("InRelease: %s %s (%s), dated %s, signed by %s", rel.Origin, rel.Codename, rel.Suite, rel.Date.Format(time.DateOnly), rel.Signer)

	ix, err := c.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("index: %d packages in %v", ix.Len(), time.Since(start).Round(time.Millisecond))

	pkgs, err := ix.Resolve(Minbase, nil)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	have := map[string]bool{}
	for _, p := range pkgs {
		total += p.Size
		have[p.Name] = true
	}
	for _, want := range []string{"base-files", "dpkg", "libc6", "apt", "bash", "coreutils", "mawk"} {
		if !have[want] {
			t.Errorf("minbase lacks %s", want)
		}
	}
	t.Logf("minbase: %d packages, %.1f MB to download", len(pkgs), float64(total)/1e6)

	// As debootstrap does for bookworm: the empty usr-is-merged, once
	// selected, satisfies init-system-helpers instead of usrmerge.
	merged, err := ix.Resolve(Minbase, []string{"usr-is-merged"})
	if err != nil {
		t.Fatal(err)
	}
	total = 0
	for _, p := range merged {
		total += p.Size
		if p.Name == "usrmerge" || p.Name == "perl" {
			t.Errorf("minbase + usr-is-merged still has %s", p.Name)
		}
	}
	t.Logf("minbase + usr-is-merged: %d packages, %.1f MB to download", len(merged), float64(total)/1e6)

	bf := ix.Lookup("base-files")
	paths, err := c.Fetch(ctx, []*Package{bf})
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenDeb(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctl, err := d.Control()
	if err != nil || ctl.Fields.Get("Version") != bf.Version {
		t.Fatalf("control of %s: %v (version %q)", bf, err, ctl.Fields.Get("Version"))
	}
	dest := t.TempDir()
	entries, err := d.ExtractData(ctx, dest, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := os.ReadFile(filepath.Join(dest, "etc/debian_version"))
	if err != nil || !strings.HasPrefix(string(ver), "12.") {
		t.Errorf("etc/debian_version = %q, %v", ver, err)
	}
	t.Logf("%s: %d bytes, %d entries extracted; total %v", bf, bf.Size, len(entries), time.Since(start).Round(time.Millisecond))
}
