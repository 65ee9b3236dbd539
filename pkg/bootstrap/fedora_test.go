package bootstrap

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/bootstrap/bootstraptest"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

const fedoraRecipe = `image: {name: f, distribution: fedora, release: "42"}
source: {type: fedora, key: keys/test.asc, fingerprints: [FPR]}
packages: {install: [systemd, systemd-networkd], remove: [sudo]}
`

// fedoraMirror writes and serves a Fedora 42 tree whose root has a
// recording dnf.
func fedoraMirror(t *testing.T, key *pgptest.Key) (string, string, bootstraptest.Fedora) {
	t.Helper()
	dir := t.TempDir()
	root := bootstraptest.Root(t, []string{"usr/bin/dnf"}, bootstraptest.Entry{Name: "etc/os-release", Body: "ID=fedora\nVERSION_ID=42\n", Mode: 0o644})
	fx := bootstraptest.WriteFedora(t, dir, key, "42", root)
	return dir, bootstraptest.Serve(t, dir), fx
}

func TestFedoraBootstrap(t *testing.T) {
	requireRoot(t)
	key := pgptest.NewKey(t)
	_, url, fx := fedoraMirror(t, key)
	target, res, err := bootstrapInto(t, fixtureRecipe(t, key, fedoraRecipe), url)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, target, "etc/os-release"); !strings.Contains(got, "ID=fedora") {
		t.Errorf("os-release %q", got)
	}
	want := "dnf -y install systemd systemd-networkd\ndnf -y remove sudo\n"
	if got := readTree(t, target, bootstraptest.Invocations); got != want {
		t.Errorf("dnf invocations %q, want %q", got, want)
	}
	if _, err := os.Lstat(filepath.Join(target, "etc/resolv.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the host's resolv.conf stayed in the tree: %v", err)
	}
	if res.Mirror != url || res.Suite != "42" || res.SourceDateEpoch != bootstraptest.Stamp.Unix() {
		t.Errorf("result %+v", res)
	}
	if len(res.Packages) != 1 || res.Packages[0].Name != fx.Image || len(res.Packages[0].SHA256) != 64 {
		t.Errorf("packages %+v", res.Packages)
	}
}

// TestFedoraRefuses: every verification failure stops before anything is
// unpacked, with an error naming the file.
func TestFedoraRefuses(t *testing.T) {
	requireRoot(t)
	key := pgptest.NewKey(t)
	for _, tc := range []struct {
		name  string
		spoil func(dir string, fx bootstraptest.Fedora)
		want  error
		names string
	}{
		{"tampered image", func(dir string, fx bootstraptest.Fedora) { bootstraptest.Tamper(t, dir, fx.Images+fx.Image) }, archive.ErrChecksum, ".oci.tar.xz"},
		{"bad signature", func(dir string, fx bootstraptest.Fedora) {
			bootstraptest.Resign(t, dir, fx.Images+fx.Checksum, pgptest.NewKey(t), fx.Listed)
		}, pgpverify.ErrSignature, "-CHECKSUM"},
		{"no entry", func(dir string, fx bootstraptest.Fedora) {
			bootstraptest.Resign(t, dir, fx.Images+fx.Checksum, key, strings.ReplaceAll(fx.Listed, "Container-Base-Generic", "Container-Toolbox"))
		}, ErrNoDigest, "-CHECKSUM"},
		{"fingerprint mismatch", func(string, bootstraptest.Fedora) {}, distkeys.ErrFingerprint, "keys/test.asc: no key 0123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, url, fx := fedoraMirror(t, key)
			tc.spoil(dir, fx)
			text := fedoraRecipe
			if tc.want == distkeys.ErrFingerprint {
				text = strings.Replace(text, "[FPR]", "["+strings.Repeat("0123", 10)+"]", 1)
			}
			target, _, err := bootstrapInto(t, fixtureRecipe(t, key, text), url)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("got %v, want %v naming %s", err, tc.want, tc.names)
			}
			t.Log(err)
			assertEmptyTree(t, target)
		})
	}
}
