package distkeys

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive/archivetest"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

const keyFile = "usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-44-primary"

// fixture is a Debian archive whose old suite lacks distribution-gpg-keys
// and whose new suite ships it with the Fedora key (and a symlink to it,
// as the real package has for rawhide), signed by archiveKey.
type fixture struct {
	dir, url, keyring string
	archiveKey        *pgptest.Key
	fedora            *pgptest.Key
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{dir: t.TempDir(), archiveKey: pgptest.NewKey(t), fedora: pgptest.NewKey(t)}
	fx.keyring = filepath.Join(t.TempDir(), "debian-archive-keyring.gpg")
	if err := os.WriteFile(fx.keyring, fx.archiveKey.PublicBinary(t), 0o644); err != nil {
		t.Fatal(err)
	}
	deb := archivetest.Deb(t, "distribution-gpg-keys", "1.120+ds-1", "all",
		archivetest.File{Path: keyFile, Body: fx.fedora.Public(t)},
		archivetest.File{Path: "usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-rawhide-primary", Link: "RPM-GPG-KEY-fedora-44-primary"},
		archivetest.File{Path: "usr/share/distribution-gpg-keys/escape", Link: "../../../../../etc/passwd"})
	archivetest.Write(t, fx.dir, fx.archiveKey,
		archivetest.Suite{Codename: "bookworm", Suite: "oldstable", Packages: []archivetest.Package{
			{Name: "hello", Version: "1", Architecture: "amd64", Deb: archivetest.Deb(t, "hello", "1", "amd64")}}},
		archivetest.Suite{Codename: "trixie", Suite: "stable", Packages: []archivetest.Package{
			{Name: "distribution-gpg-keys", Version: "1.120+ds-1", Architecture: "all", Deb: deb}}})
	srv := httptest.NewServer(http.FileServer(http.Dir(fx.dir)))
	t.Cleanup(srv.Close)
	fx.url = srv.URL
	return fx
}

func (fx *fixture) fetcher(t *testing.T) *Fetcher {
	return &Fetcher{Mirror: fx.url, Suites: []string{"bookworm", "stable"}, Keyring: fx.keyring, Arch: "amd64", CacheDir: t.TempDir()}
}

func TestLoadFromArchive(t *testing.T) {
	fx := newFixture(t)
	f := fx.fetcher(t)
	ctx := context.Background()
	for _, file := range []string{keyFile, "usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-rawhide-primary"} {
		k := Key{Package: "distribution-gpg-keys", File: file, Fingerprints: []string{spaced(fx.fedora.Fingerprint())}}
		kr, err := f.Load(ctx, k, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(kr.Keys) != 1 || pgpverify.Fingerprint(kr.Keys[0]) != fx.fedora.Fingerprint() {
			t.Fatalf("keys %v", kr.Keys)
		}
		if !strings.Contains(kr.From, "1.120+ds-1") || !strings.Contains(kr.From, "stable") {
			t.Errorf("from %q", kr.From)
		}
		if !strings.HasPrefix(kr.Path, f.CacheDir) {
			t.Errorf("path %s is not in the cache", kr.Path)
		}
	}

	// The archive keyring from the environment (the host's Debian keyring
	// would refuse the fixture archive).
	envFetcher := fx.fetcher(t)
	envFetcher.Keyring = ""
	t.Setenv(KeyringEnv, fx.keyring)
	if _, err := envFetcher.Load(ctx, Key{Package: "distribution-gpg-keys", File: keyFile, Fingerprints: []string{fx.fedora.Fingerprint()}}, ""); err != nil {
		t.Fatalf("keyring from $%s: %v", KeyringEnv, err)
	}

	// Cached: no archive needed any more.
	k := Key{Package: "distribution-gpg-keys", File: keyFile, Fingerprints: []string{fx.fedora.Fingerprint()}}
	f.Mirror = "http://127.0.0.1:1"
	if kr, err := f.Load(ctx, k, ""); err != nil || !strings.Contains(kr.From, "cached") {
		t.Fatalf("cached load: %v %v", kr, err)
	}
}

func TestLoadRefused(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	other := pgptest.NewKey(t)
	tests := []struct {
		name string
		key  Key
		edit func(f *Fetcher)
		want error
	}{
		{"wrong pin", Key{"distribution-gpg-keys", keyFile, []string{other.Fingerprint()}}, nil, ErrFingerprint},
		{"no pin", Key{"distribution-gpg-keys", keyFile, nil}, nil, ErrFingerprint},
		{"bad pin", Key{"distribution-gpg-keys", keyFile, []string{"abc"}}, nil, ErrFingerprint},
		{"no file", Key{"distribution-gpg-keys", "usr/share/nothing.gpg", []string{fx.fedora.Fingerprint()}}, nil, ErrNotFound},
		{"symlink out of the package", Key{"distribution-gpg-keys", "usr/share/distribution-gpg-keys/escape", []string{fx.fedora.Fingerprint()}}, nil, ErrNotFound},
		{"no package", Key{"ubuntu-keyring", "usr/share/keyrings/ubuntu-archive-keyring.gpg", []string{fx.fedora.Fingerprint()}}, nil, ErrNotFound},
		{"only the old suite", Key{"distribution-gpg-keys", keyFile, []string{fx.fedora.Fingerprint()}},
			func(f *Fetcher) { f.Suites = []string{"bookworm"} }, ErrNotFound},
		{"archive signed by another key", Key{"distribution-gpg-keys", keyFile, []string{fx.fedora.Fingerprint()}},
			func(f *Fetcher) {
				f.Keyring = filepath.Join(t.TempDir(), "other.gpg")
				other.WritePublic(t, f.Keyring)
			}, pgpverify.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fx.fetcher(t)
			if tt.edit != nil {
				tt.edit(f)
			}
			kr, err := f.Load(ctx, tt.key, "")
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want %v", kr, err, tt.want)
			}
			if entries, _ := os.ReadDir(filepath.Join(f.CacheDir, "keys")); len(entries) > 0 {
				t.Errorf("refused key cached: %v", entries)
			}
		})
	}
}

func TestLoadOverride(t *testing.T) {
	fx := newFixture(t)
	f := fx.fetcher(t)
	f.Mirror = "http://127.0.0.1:1" // an override needs no archive
	own := pgptest.NewKey(t)
	override := filepath.Join(t.TempDir(), "keys", "fedora.asc")
	own.WritePublic(t, override)
	ctx := context.Background()
	kr, err := f.Load(ctx, Key{"distribution-gpg-keys", keyFile, []string{own.Fingerprint()}}, override)
	if err != nil || kr.Path != override || pgpverify.Fingerprint(kr.Keys[0]) != own.Fingerprint() {
		t.Fatalf("override: %v %v", kr, err)
	}
	if _, err := f.Load(ctx, Key{"distribution-gpg-keys", keyFile, []string{fx.fedora.Fingerprint()}}, override); !errors.Is(err, ErrFingerprint) {
		t.Fatalf("override with another key than pinned: %v", err)
	}
}

func TestCachedKeyRepinned(t *testing.T) {
	fx := newFixture(t)
	f := fx.fetcher(t)
	ctx := context.Background()
	k := Key{"distribution-gpg-keys", keyFile, []string{fx.fedora.Fingerprint()}}
	kr, err := f.Load(ctx, k, "")
	if err != nil {
		t.Fatal(err)
	}
	// A cache entry that no longer holds the pinned key is not trusted:
	// the archive is asked again.
	fx.archiveKey.WritePublic(t, kr.Path)
	if kr, err := f.Load(ctx, k, ""); err != nil || strings.Contains(kr.From, "cached") {
		t.Fatalf("after a bad cache entry: %v %v", kr, err)
	}
}

// spaced writes a fingerprint as gpg prints it, in groups of four.
func spaced(fp string) string {
	var b strings.Builder
	for i := 0; i < len(fp); i += 4 {
		b.WriteString(fp[i:i+4] + " ")
	}
	return b.String()
}
