package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/bootstrap/bootstraptest"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
	"github.com/colinux-ng/colinux/pkg/rpm"
	"github.com/colinux-ng/colinux/pkg/rpm/rpmtest"
	"github.com/colinux-ng/colinux/pkg/rpmrepo"
)

const fedoraRepoRecipe = `image: {name: f, distribution: fedora, release: "42"}
source: {type: fedora, fingerprints: [FPR], method: repo}
packages: {install: [systemd-networkd, systemd], remove: [dnf]}
`

// fedoraRepoMirror writes and serves Fedora 42's release and updates
// repositories, whose packages make a busybox root with a recording rpm.
func fedoraRepoMirror(t *testing.T, key *pgptest.Key, adjust func(map[string]*rpmtest.Spec)) (string, string, bootstraptest.FedoraRepo) {
	t.Helper()
	dir := t.TempDir()
	root := bootstraptest.Root(t, []string{"usr/bin/rpm", "usr/bin/dnf"}, bootstraptest.Entry{Name: "etc/os-release", Body: "ID=fedora\nVERSION_ID=42\n", Mode: 0o644})
	fx := bootstraptest.WriteFedoraRepo(t, dir, key, "42", root, []string{"systemd-networkd", "systemd"}, adjust)
	return dir, bootstraptest.Serve(t, dir), fx
}

// repoBootstrap runs the recipe with the Fedora 42 key delivered in a
// fixture distribution-gpg-keys package.
func repoBootstrap(t *testing.T, key *pgptest.Key, text, url string) (string, *Result, error) {
	t.Helper()
	dk := bootstraptest.WriteDistKeys(t, map[string]*pgptest.Key{"42": key})
	return bootstrapWith(t, fixtureRecipe(t, key, text), Options{Mirror: url,
		Keys: &distkeys.Fetcher{Mirror: dk.Mirror, Keyring: dk.Keyring, Suites: []string{"stable"}, Arch: "amd64"}})
}

func TestFedoraRepoBootstrap(t *testing.T) {
	requireRoot(t)
	key := pgptest.NewKey(t)
	_, url, _ := fedoraRepoMirror(t, key, nil)
	target, res, err := repoBootstrap(t, key, fedoraRepoRecipe, url)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, target, "etc/os-release"); !strings.Contains(got, "ID=fedora") {
		t.Errorf("os-release %q", got)
	}
	if got := readTree(t, target, "usr/share/fixture/systemd"); got != "systemd\n" {
		t.Errorf("systemd's file: %q", got)
	}
	if fi, err := os.Stat(filepath.Join(target, "etc/shadow")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("etc/shadow: %v %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(target, "usr/bin/dnf")); err == nil {
		t.Error("dnf installed although the recipe removes it")
	}
	calls := readTree(t, target, bootstraptest.Invocations)
	if !strings.HasPrefix(calls, "rpm --import /"+rpmDir+"/key-0.asc\nrpm --install --force --nodeps --quiet /"+rpmDir+"/") || strings.Count(calls, ".rpm") != 8 || strings.Count(calls, "\n") != 2 {
		t.Errorf("second stage: %q", calls)
	}
	if _, err := os.Stat(filepath.Join(target, rpmDir)); err == nil {
		t.Error("the packages stayed in the tree")
	}
	var got []string
	for _, p := range res.Packages {
		got = append(got, p.Name+"-"+p.Version)
	}
	want := "bash-5.2-1.fc42 fedora-release-42-1.fc42 filesystem-3.18-1.fc42 rpm-4.20-1.fc42 rpm-sequoia-1.7-1.fc42 setup-2.15-1.fc42 systemd-257-1.fc42 systemd-networkd-1-1.fc42"
	if strings.Join(got, " ") != want {
		t.Errorf("packages %s\nwant %s", strings.Join(got, " "), want)
	}
	if res.SourceDateEpoch != bootstraptest.Stamp.Unix() || res.Suite != "42" {
		t.Errorf("result %+v", res)
	}
}

// TestFedoraRepoRefuses: a package signed by another key, unsigned,
// tampered, or not the one primary.xml names, and a tampered primary.xml,
// each stop the bootstrap before anything is unpacked.
func TestFedoraRepoRefuses(t *testing.T) {
	requireRoot(t)
	key := pgptest.NewKey(t)
	for _, tc := range []struct {
		name   string
		adjust func(map[string]*rpmtest.Spec)
		spoil  func(dir string, fx bootstraptest.FedoraRepo)
		want   error
		names  string
	}{
		{name: "wrong key", adjust: func(s map[string]*rpmtest.Spec) { s["bash"].Key = pgptest.NewKey(t) },
			want: pgpverify.ErrSignature, names: "bash-5.2-1.fc42.x86_64.rpm"},
		{name: "unsigned", adjust: func(s map[string]*rpmtest.Spec) { s["bash"].Unsigned = true },
			want: rpm.ErrUnsigned, names: "bash-5.2-1.fc42.x86_64.rpm"},
		{name: "swapped package", adjust: func(s map[string]*rpmtest.Spec) {
			// a validly signed package under another's name, listed with its true digest
			s["rpm"].Data = rpmtest.Build(t, *s["fedora-release"], key)
		}, want: rpm.ErrDigest, names: "primary.xml lists rpm-4.20-1.fc42.x86_64"},
		{name: "tampered package", spoil: func(dir string, fx bootstraptest.FedoraRepo) {
			bootstraptest.Tamper(t, dir, fx.ReleaseDir+fx.Release.Files["setup"])
		}, want: archive.ErrChecksum, names: "setup-2.15-1.fc42.x86_64.rpm"},
		{name: "tampered primary", spoil: func(dir string, fx bootstraptest.FedoraRepo) {
			bootstraptest.Tamper(t, dir, fx.UpdatesDir+fx.Updates.Primary)
		}, want: archive.ErrChecksum, names: "-primary.xml.zst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, url, fx := fedoraRepoMirror(t, key, tc.adjust)
			if tc.spoil != nil {
				tc.spoil(dir, fx)
			}
			target, _, err := repoBootstrap(t, key, fedoraRepoRecipe, url)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("got %v, want %v naming %s", err, tc.want, tc.names)
			}
			t.Log(err)
			assertEmptyTree(t, target)
		})
	}
	t.Run("fingerprint mismatch", func(t *testing.T) {
		_, url, _ := fedoraRepoMirror(t, key, nil)
		text := strings.Replace(fedoraRepoRecipe, "[FPR]", "["+pgptest.NewKey(t).Fingerprint()+"]", 1)
		target, _, err := repoBootstrap(t, key, text, url)
		if !errors.Is(err, distkeys.ErrFingerprint) || !strings.Contains(err.Error(), "RPM-GPG-KEY-fedora-42-primary") {
			t.Fatalf("got %v", err)
		}
		t.Log(err)
		assertEmptyTree(t, target)
	})
	t.Run("unresolvable", func(t *testing.T) {
		_, url, _ := fedoraRepoMirror(t, key, nil)
		text := strings.Replace(fedoraRepoRecipe, "systemd]", "systemd, unused]", 1)
		target, _, err := repoBootstrap(t, key, text, url)
		if !errors.Is(err, rpmrepo.ErrUnresolvable) || !strings.Contains(err.Error(), "nothing-provides-this") {
			t.Fatalf("got %v", err)
		}
		assertEmptyTree(t, target)
	})
}

// TestFedoraRepoBaseCache: a second build of the same packages restores
// the installed base instead of unpacking and running rpm again.
func TestFedoraRepoBaseCache(t *testing.T) {
	requireRoot(t)
	shm, err := os.MkdirTemp("/dev/shm", "fedora-base-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	key := pgptest.NewKey(t)
	_, url, _ := fedoraRepoMirror(t, key, nil)
	dk := bootstraptest.WriteDistKeys(t, map[string]*pgptest.Key{"42": key})
	r := fixtureRecipe(t, key, fedoraRepoRecipe)
	var trees []string
	for i := range 2 {
		target := filepath.Join(shm, fmt.Sprint("tree", i))
		os.Mkdir(target, 0o755)
		var log bytes.Buffer
		_, err := Bootstrap(context.Background(), r, target, Options{Mirror: url, CacheDir: filepath.Join(shm, "cache"), Log: &log,
			Keys: &distkeys.Fetcher{Mirror: dk.Mirror, Keyring: dk.Keyring, Suites: []string{"stable"}, Arch: "amd64"}})
		if err != nil {
			t.Fatal(err)
		}
		if restored := strings.Contains(log.String(), "base cache: restored"); restored != (i == 1) {
			t.Errorf("build %d: restored %v\n%s", i, restored, log.String())
		}
		trees = append(trees, readTree(t, target, bootstraptest.Invocations)+readTree(t, target, "etc/os-release"))
	}
	if trees[0] != trees[1] || strings.Count(trees[1], "rpm --install") != 1 {
		t.Errorf("trees differ or rpm ran twice:\n%s\n%s", trees[0], trees[1])
	}
}

// TestSecondStageHostRPM: the host's rpm, told to insist on signatures,
// imports the key as the second stage exports it and installs a package
// signed with it, and refuses one signed by another key: what the
// target's rpm is asked to do, done by a real rpm.
func TestSecondStageHostRPM(t *testing.T) {
	requireRoot(t)
	rpmBin := testutil.RequireTool(t, "rpm")
	key := pgptest.NewKey(t)
	armored, err := armoredKeys(openpgp.EntityList{key.Entity})
	if err != nil {
		t.Fatal(err)
	}
	root, dir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(dir, "key-0.asc"), armored[0], 0o644)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(rpmBin, append([]string{"--root", root, "--define", "_pkgverify_level signature"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("--import", filepath.Join(dir, "key-0.asc")); err != nil {
		t.Fatalf("rpm --import: %v\n%s", err, out)
	}
	spec := rpmtest.Spec{Name: "hello", Version: "1", Release: "1", Arch: "x86_64", Files: []rpmtest.File{{Path: "/usr/share/hello", Body: "hi\n"}}}
	for _, tc := range []struct {
		key *pgptest.Key
		ok  bool
	}{{key, true}, {pgptest.NewKey(t), false}} {
		pkg := filepath.Join(dir, spec.FileName())
		os.WriteFile(pkg, rpmtest.Build(t, spec, tc.key), 0o644)
		out, err := run("--install", "--force", "--nodeps", "--quiet", pkg)
		if (err == nil) != tc.ok {
			t.Errorf("install signed by the imported key %v: %v\n%s", tc.ok, err, out)
		}
	}
	if got := readTree(t, root, "usr/share/hello"); got != "hi\n" {
		t.Errorf("installed file %q", got)
	}
}
