package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/bootstrap/bootstraptest"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

const gentooRecipe = `image: {name: g, distribution: gentoo}
source: {type: gentoo, flavor: systemd, key: keys/test.asc, fingerprints: [FPR], binpkgs: true}
packages: {install: [app-editors/nano, net-misc/openssh], remove: [sys-apps/man-pages]}
`

// gentooMirror writes and serves an amd64 systemd tree whose stage3 has a
// recording emerge and a file capability-like xattr on busybox.
func gentooMirror(t *testing.T, key *pgptest.Key) (string, string, bootstraptest.Gentoo) {
	t.Helper()
	dir := t.TempDir()
	root := bootstraptest.Root(t, []string{"usr/bin/emerge"},
		bootstraptest.Entry{Name: "etc/os-release", Body: "ID=gentoo\n", Mode: 0o644},
		bootstraptest.Entry{Name: "usr/bin/ping", Body: "#!/bin/sh\n", Mode: 0o755, Xattr: map[string]string{"trusted.fixture": "stage3"}})
	fx := bootstraptest.WriteGentoo(t, dir, key, "systemd", root)
	return dir, bootstraptest.Serve(t, dir), fx
}

func TestGentooBootstrap(t *testing.T) {
	requireRoot(t)
	key := pgptest.NewKey(t)
	_, url, fx := gentooMirror(t, key)
	target, res, err := bootstrapInto(t, fixtureRecipe(t, key, gentooRecipe), url)
	if err != nil {
		t.Fatal(err)
	}
	want := "emerge --noreplace --getbinpkg --usepkg app-editors/nano net-misc/openssh\nemerge --depclean sys-apps/man-pages\n"
	if got := readTree(t, target, bootstraptest.Invocations); got != want {
		t.Errorf("emerge invocations %q, want %q", got, want)
	}
	if got := readTree(t, target, "var/db/repos/gentoo/profiles/repo_name"); got != "gentoo\n" {
		t.Errorf("portage snapshot not at /var/db/repos/gentoo: %q", got)
	}
	buf := make([]byte, 32)
	if n, err := unix.Lgetxattr(target+"/usr/bin/ping", "trusted.fixture", buf); err != nil || string(buf[:n]) != "stage3" {
		t.Errorf("xattr lost: %q %v", buf[:n], err)
	}
	if res.Suite != bootstraptest.GentooStamp || res.SourceDateEpoch != bootstraptest.Stamp.Unix() ||
		len(res.Packages) != 1 || !strings.HasSuffix(fx.Stage3, res.Packages[0].Name) {
		t.Errorf("result %+v", res)
	}
}

// TestGentooNoPackages: without packages no snapshot is fetched and
// emerge does not run.
func TestGentooNoPackages(t *testing.T) {
	requireRoot(t)
	key := pgptest.NewKey(t)
	dir, url, fx := gentooMirror(t, key)
	bootstraptest.Tamper(t, dir, fx.Snapshot) // would fail if fetched
	text := strings.Split(gentooRecipe, "packages:")[0]
	target, _, err := bootstrapInto(t, fixtureRecipe(t, key, text), url)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, target, bootstraptest.Invocations); got != "" {
		t.Errorf("emerge ran: %q", got)
	}
}

// TestGentooRefuses: every verification failure stops the bootstrap with
// an error naming the file; before the stage3 is verified nothing is
// unpacked.
func TestGentooRefuses(t *testing.T) {
	requireRoot(t)
	key, stranger := pgptest.NewKey(t), pgptest.NewKey(t)
	for _, tc := range []struct {
		name  string
		spoil func(dir string, fx bootstraptest.Gentoo)
		want  error
		names string
		empty bool
	}{
		{"tampered stage3", func(dir string, fx bootstraptest.Gentoo) { bootstraptest.Tamper(t, dir, fx.Stage3) }, archive.ErrChecksum, ".tar.xz", true},
		{"bad pointer signature", func(dir string, fx bootstraptest.Gentoo) {
			bootstraptest.Resign(t, dir, fx.Pointer, stranger, fx.PointerText)
		}, pgpverify.ErrSignature, "latest-stage3-amd64-systemd.txt", true},
		{"bad DIGESTS signature", func(dir string, fx bootstraptest.Gentoo) {
			bootstraptest.Resign(t, dir, fx.Digests, stranger, fx.DigestsText)
		}, pgpverify.ErrSignature, ".DIGESTS", true},
		{"missing DIGESTS entry", func(dir string, fx bootstraptest.Gentoo) {
			bootstraptest.Resign(t, dir, fx.Digests, key, strings.ReplaceAll(fx.DigestsText, ".tar.xz\n", ".tar.bz2\n"))
		}, ErrNoDigest, ".DIGESTS", true},
		{"tampered snapshot", func(dir string, fx bootstraptest.Gentoo) { bootstraptest.Tamper(t, dir, fx.Snapshot) }, pgpverify.ErrSignature, "portage-latest.tar.xz", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, url, fx := gentooMirror(t, key)
			tc.spoil(dir, fx)
			target, _, err := bootstrapInto(t, fixtureRecipe(t, key, gentooRecipe), url)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("got %v, want %v naming %s", err, tc.want, tc.names)
			}
			t.Log(err)
			if tc.empty {
				assertEmptyTree(t, target)
			}
		})
	}
}

// TestGentooKeyServerAndCache: without a keys/ file the pinned keys come
// from the key server; a key that is not the pinned one is refused. The
// portage snapshot is cached: a second build reuses it, and a cached copy
// that no longer matches its signature is fetched again.
func TestGentooKeyServerAndCache(t *testing.T) {
	requireRoot(t)
	key, stranger := pgptest.NewKey(t), pgptest.NewKey(t)
	dir, url, fx := gentooMirror(t, key)
	text := strings.Replace(gentooRecipe, "key: keys/test.asc", "key_server: "+bootstraptest.ServeKeyServer(t, map[string]*pgptest.Key{key.Fingerprint(): key}), 1)
	cache := t.TempDir()
	if _, _, err := bootstrapWith(t, fixtureRecipe(t, key, text), Options{Mirror: url, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(cache, "images", "portage", "*.tar.xz"))
	if len(snaps) != 1 {
		t.Fatalf("cached snapshots: %v", snaps)
	}
	// cached: the mirror's copy is not read again
	os.Rename(filepath.Join(dir, fx.Snapshot), filepath.Join(dir, fx.Snapshot+".gone"))
	target, _, err := bootstrapWith(t, fixtureRecipe(t, key, text), Options{Mirror: url, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, target, "var/db/repos/gentoo/profiles/repo_name"); got != "gentoo\n" {
		t.Errorf("snapshot from the cache: %q", got)
	}
	// a spoilt cached copy is replaced by a verified download
	os.Rename(filepath.Join(dir, fx.Snapshot+".gone"), filepath.Join(dir, fx.Snapshot))
	bootstraptest.Tamper(t, filepath.Dir(snaps[0]), filepath.Base(snaps[0]))
	if _, _, err := bootstrapWith(t, fixtureRecipe(t, key, text), Options{Mirror: url, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}

	wrong := strings.Replace(gentooRecipe, "key: keys/test.asc", "key_server: "+bootstraptest.ServeKeyServer(t, map[string]*pgptest.Key{key.Fingerprint(): stranger}), 1)
	target, _, err = bootstrapWith(t, fixtureRecipe(t, key, wrong), Options{Mirror: url})
	if !errors.Is(err, distkeys.ErrFingerprint) {
		t.Fatalf("a key server answering with another key: %v", err)
	}
	t.Log(err)
	assertEmptyTree(t, target)
}

// TestGentooKeyFilePin: a keys/ file whose key is not the pinned one is
// refused before anything is unpacked.
func TestGentooKeyFilePin(t *testing.T) {
	requireRoot(t)
	key, stranger := pgptest.NewKey(t), pgptest.NewKey(t)
	_, url, _ := gentooMirror(t, key)
	r := fixtureRecipe(t, stranger, strings.Replace(gentooRecipe, "FPR", key.Fingerprint(), 1))
	target, _, err := bootstrapInto(t, r, url)
	if !errors.Is(err, distkeys.ErrFingerprint) || !strings.Contains(err.Error(), key.Fingerprint()) {
		t.Fatalf("keys/ file with another key: %v", err)
	}
	assertEmptyTree(t, target)
}
