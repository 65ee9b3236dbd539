//go:build linux

package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/archive/archivetest"
	"github.com/colinux-ng/colinux/pkg/bootstrap/bootstraptest"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// The Ubuntu test builds the shipped recipes/ubuntu.yaml against two
// fixture archives on 127.0.0.1: an Ubuntu-layout mirror (suite resolute,
// Origin Ubuntu) signed by a test "Ubuntu" key, holding the real Debian 13
// packages the recipe resolves to (so the bootstrap, dpkg and systemd are
// real), and a Debian archive signed by a test "Debian" key whose
// ubuntu-keyring package delivers the Ubuntu key. Nothing on the host is
// trusted: the Debian archive's key comes through $COIMAGE_DEBIAN_KEYRING.

// ubuntuFixture is the two archives and the keys of one test.
type ubuntuFixture struct {
	ubuntuURL, debianURL, debianKeyring string
	ubuntuKey                           *pgptest.Key
}

// writeUbuntuFixture serves the Ubuntu mirror, signed by signer, and the
// Debian archive whose ubuntu-keyring ships delivered.
func writeUbuntuFixture(t *testing.T, pkgs []archivetest.Package, signer, delivered *pgptest.Key) ubuntuFixture {
	t.Helper()
	ubuntuDir, debianDir := t.TempDir(), t.TempDir()
	archivetest.Write(t, ubuntuDir, signer, archivetest.Suite{Codename: "resolute", Origin: "Ubuntu", Packages: pkgs})
	debianKey := pgptest.NewKey(t)
	keyring := archivetest.Deb(t, "ubuntu-keyring", "2023.11.28.1-0.2", "all",
		archivetest.File{Path: "usr/share/keyrings/ubuntu-archive-keyring.gpg", Body: delivered.PublicBinary(t)})
	archivetest.Write(t, debianDir, debianKey, archivetest.Suite{Codename: "trixie", Suite: "stable",
		Packages: []archivetest.Package{{Name: "ubuntu-keyring", Version: "2023.11.28.1-0.2", Architecture: "all", Deb: keyring}}})
	fx := ubuntuFixture{ubuntuURL: bootstraptest.Serve(t, ubuntuDir), debianURL: bootstraptest.Serve(t, debianDir), ubuntuKey: delivered,
		debianKeyring: filepath.Join(t.TempDir(), "debian-archive-keyring.gpg")}
	debianKey.WritePublic(t, fx.debianKeyring)
	return fx
}

// realPackages resolves minbase plus the recipe's packages in the host
// mirror's Debian 13 and returns them with their verified .debs, as
// entries of a fixture suite.
func realPackages(t *testing.T, install []string) []archivetest.Package {
	t.Helper()
	mirror, err := archive.MirrorFrom("")
	if err != nil {
		t.Fatal(err)
	}
	c := &archive.Client{Mirror: mirror, Suite: "trixie", Arch: "amd64", CacheDir: buildCache(t)}
	ctx := context.Background()
	ix, err := c.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := ix.Resolve(archive.Minbase, append([]string{"usr-is-merged"}, install...))
	if err != nil {
		t.Fatal(err)
	}
	debs, err := c.Fetch(ctx, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	var out []archivetest.Package
	for i, p := range pkgs {
		data, err := os.ReadFile(debs[i])
		if err != nil {
			t.Fatal(err)
		}
		fx := archivetest.Package{Name: p.Name, Version: p.Version, Architecture: p.Architecture, Deb: data}
		for _, f := range [][2]string{{"Depends", p.Depends}, {"Pre-Depends", p.PreDepends}, {"Provides", p.Provides},
			{"Priority", p.Priority}, {"Multi-Arch", p.MultiArch}} {
			if f[1] != "" {
				fx.Fields = append(fx.Fields, f[0]+": "+f[1])
			}
		}
		if p.Essential {
			fx.Fields = append(fx.Fields, "Essential: yes")
		}
		out = append(out, fx)
	}
	return out
}

var pinLine = regexp.MustCompile(`(?m)^  fingerprints: .*$`)

// ubuntuRecipe copies recipes/ubuntu.yaml, pinning fingerprint instead of
// Ubuntu's real key.
func ubuntuRecipe(t *testing.T, fingerprint string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "recipes", "ubuntu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !pinLine.Match(data) {
		t.Fatal("recipes/ubuntu.yaml pins no fingerprints")
	}
	path := filepath.Join(t.TempDir(), "ubuntu.yaml")
	if err := os.WriteFile(path, pinLine.ReplaceAll(data, []byte(`  fingerprints: ["`+fingerprint+`"]`)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (fx ubuntuFixture) env() []string {
	return []string{"SOURCE_DATE_EPOCH=" + testEpoch, archive.MirrorEnv + "=" + fx.debianURL, distkeys.KeyringEnv + "=" + fx.debianKeyring}
}

func TestBuildUbuntuFixture(t *testing.T) {
	requireBuild(t)
	install := []string{"systemd", "systemd-sysv", "systemd-resolved", "dbus", "udev", "iproute2", "iputils-ping", "netbase", "ca-certificates"}
	pkgs := realPackages(t, install)
	key := pgptest.NewKey(t)
	fx := writeUbuntuFixture(t, pkgs, key, key)

	t.Run("refused", func(t *testing.T) {
		other := pgptest.NewKey(t)
		wrongSigner := writeUbuntuFixture(t, pkgs, other, key)
		for _, tc := range []struct {
			name, fingerprint string
			fx                ubuntuFixture
			want              string
		}{
			{"pin of another key", other.Fingerprint(), fx, "key fingerprint does not match the pin"},
			{"mirror signed by another key", key.Fingerprint(), wrongSigner, "bad OpenPGP signature"},
		} {
			out := t.TempDir()
			_, stderr, code := coimageEnv(t, tc.fx.env(), "build", "--cache", t.TempDir(), "--mirror", tc.fx.ubuntuURL,
				"--output", out, ubuntuRecipe(t, tc.fingerprint))
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s: exit %d, stderr lacks %q:\n%s", tc.name, code, tc.want, stderr)
			}
			assertEmpty(t, out)
		}
	})

	// No base cache: the fixture's mirror URL, part of the key, differs in
	// every run.
	out := t.TempDir()
	recipe := ubuntuRecipe(t, key.Fingerprint())
	stdout, stderr, code := coimageEnv(t, fx.env(), "build", "--json", "--verbose", "--no-base-cache", "--cache", buildCache(t),
		"--mirror", fx.ubuntuURL, "--output", out, recipe)
	if code != 0 {
		t.Fatalf("coimage build: exit %d\n%s", code, lastLines(stderr, 40))
	}
	if !strings.Contains(stderr, "Ubuntu archive keys: ubuntu-keyring:/usr/share/keyrings/ubuntu-archive-keyring.gpg 2023.11.28.1-0.2 from "+fx.debianURL) {
		t.Errorf("the keys did not come from the fixture's ubuntu-keyring:\n%s", lastLines(stderr, 40))
	}
	if !strings.Contains(stdout, `"distribution": "ubuntu"`) || !strings.Contains(stdout, `"release": "resolute"`) {
		t.Errorf("manifest:\n%s", stdout)
	}
	img := filepath.Join(out, "ubuntu-26.04.img")
	testutil.Run(t, "e2fsck", "-fn", img)
	if src := imageFile(t, img, "/etc/apt/sources.list.d/ubuntu.sources"); !strings.Contains(src, "URIs: "+fx.ubuntuURL+"\nSuites: resolute\n") {
		t.Errorf("ubuntu.sources:\n%s", src)
	}
	bootHostname(t, img)
}
