//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/bootstrap/bootstraptest"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// The Fedora and Gentoo build tests run the shipped recipes against
// fixture mirrors on 127.0.0.1 (see bootstraptest): no network, but root
// for the chroot.

func requireFixtureBuild(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds an image: skipped with -short")
	}
	testutil.Require(t, os.Geteuid() == 0, "coimage build needs root")
	for _, tool := range []string{"mke2fs", "debugfs", "e2fsck", "busybox"} {
		testutil.RequireTool(t, tool)
	}
}

// pins is a shipped recipe's fingerprints block.
var pins = regexp.MustCompile(`(?m)^  fingerprints:\n(    - .*\n)+`)

// shippedRecipe copies recipes/<name> into a fresh directory, pinning
// key's fingerprint instead of the distribution's and applying edits
// (old, new, old, new…) to its text. No keys/ file is written.
func shippedRecipe(t *testing.T, name string, key *pgptest.Key, edits ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "recipes", name))
	if err != nil {
		t.Fatal(err)
	}
	text := pins.ReplaceAllString(string(data), "  fingerprints: ["+key.Fingerprint()+"]\n")
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("%s lacks %q", name, edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// distKeys serves a fixture Debian archive whose distribution-gpg-keys
// ships key as Fedora 44's, and returns the environment that points
// coimage build at it.
func distKeys(t *testing.T, key *pgptest.Key) []string {
	dk := bootstraptest.WriteDistKeys(t, map[string]*pgptest.Key{"44": key})
	return []string{archive.MirrorEnv + "=" + dk.Mirror, distkeys.KeyringEnv + "=" + dk.Keyring}
}

// gentooKeyServer is the recipe edit that looks key up on a fixture key
// server.
func gentooKeyServer(t *testing.T, key *pgptest.Key) []string {
	return []string{"  flavor: systemd\n", "  flavor: systemd\n  key_server: " +
		bootstraptest.ServeKeyServer(t, map[string]*pgptest.Key{key.Fingerprint(): key}) + "\n"}
}

// fixtureRoot is the busybox base both fixtures ship, with a recording
// package manager and systemctl.
func fixtureRoot(t *testing.T, pm, osRelease string, extra ...bootstraptest.Entry) []bootstraptest.Entry {
	return bootstraptest.Root(t, []string{"usr/bin/" + pm, "usr/bin/systemctl"},
		append(extra, bootstraptest.Entry{Name: "etc/os-release", Body: osRelease, Mode: 0o644})...)
}

// pingCap is a file capability as Gentoo's stage3 puts on ping:
// security.capability, revision 2, effective, permitted cap_net_raw.
const pingCap = "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// enabled is what coimage's customization and the recipes' scripts ask
// of systemctl, recorded after the package manager's line.
const enabled = "systemctl --quiet enable getty@tty0.service getty@ttyS0.service systemd-networkd.service\n" +
	"systemctl enable systemd-resolved.service\n"

// checkFixtureImage: the image is a clean ext4 holding the fixture root
// with the shipped recipe's customizations, and the package manager was
// called as the invocations pattern says.
func checkFixtureImage(t *testing.T, img, osRelease, invocations string) {
	t.Helper()
	testutil.Run(t, "e2fsck", "-fn", img)
	for path, want := range map[string]string{
		"/etc/os-release": osRelease,
		"/etc/hostname":   "colinux\n",
		"/etc/machine-id": "",
	} {
		if got := imageFile(t, img, path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if got := imageFile(t, img, "/"+bootstraptest.Invocations); !regexp.MustCompile(`^` + invocations + `$`).MatchString(got) {
		t.Errorf("invocations %q, want %q", got, invocations)
	}
	if shadow := imageFile(t, img, "/etc/shadow"); !strings.HasPrefix(shadow, "root:$6$colinux$") {
		t.Errorf("root's password not set: %q", shadow)
	}
	if net := imageFile(t, img, "/etc/systemd/network/10-eth0.network"); !strings.Contains(net, "DHCP=yes") {
		t.Errorf("eth0 network file: %q", net)
	}
	if fstab := imageFile(t, img, "/etc/fstab"); !strings.Contains(fstab, "/dev/ubda\t/\text4") {
		t.Errorf("fstab lacks the root on /dev/ubda:\n%s", fstab)
	}
	if link := testutil.Run(t, "debugfs", "-R", "stat /etc/resolv.conf", img); !strings.Contains(link, "../run/systemd/resolve/stub-resolv.conf") {
		t.Errorf("resolv.conf is not the resolved stub link:\n%s", link)
	}
}

func TestBuildFedoraFixture(t *testing.T) {
	requireFixtureBuild(t)
	key := pgptest.NewKey(t)
	mirror := t.TempDir()
	osRelease := "ID=fedora\nVERSION_ID=44\n"
	fx := bootstraptest.WriteFedora(t, mirror, key, "44", fixtureRoot(t, "dnf", osRelease))
	recipe := shippedRecipe(t, "fedora.yaml", key)
	env := distKeys(t, key)
	out, m, _ := buildImageEnv(t, env, recipe, "--mirror", bootstraptest.Serve(t, mirror))
	img := filepath.Join(out, "fedora-44.img")
	checkFixtureImage(t, img, osRelease, regexp.QuoteMeta(
		"dnf -y install systemd systemd-networkd systemd-resolved util-linux shadow-utils iproute iputils\n"+enabled+"dnf -y clean all\n"))
	if len(m.Packages) != 1 || m.Packages[0].Name != fx.Image || m.Distribution != "fedora" || m.Release != "44" {
		t.Errorf("manifest %+v", m)
	}
	if _, again, _ := buildImageEnv(t, env, recipe, "--mirror", bootstraptest.Serve(t, mirror)); again.Image.SHA256 != m.Image.SHA256 {
		t.Errorf("two builds differ: %s and %s", m.Image.SHA256, again.Image.SHA256)
	}
	bootHostname(t, img)
}

// TestBuildFedoraRepoFixture: the shipped recipe with method: repo, from a
// fixture release and updates repository of signed RPMs; the key comes
// from a fixture distribution-gpg-keys package.
func TestBuildFedoraRepoFixture(t *testing.T) {
	requireFixtureBuild(t)
	key := pgptest.NewKey(t)
	mirror := t.TempDir()
	osRelease := "ID=fedora\nVERSION_ID=44\n"
	root := bootstraptest.Root(t, []string{"usr/bin/rpm", "usr/bin/dnf", "usr/bin/systemctl"},
		bootstraptest.Entry{Name: "etc/os-release", Body: osRelease, Mode: 0o644})
	extra := []string{"systemd", "systemd-networkd", "systemd-resolved", "util-linux", "shadow-utils", "iproute", "iputils"}
	bootstraptest.WriteFedoraRepo(t, mirror, key, "44", root, extra, nil)
	recipe := shippedRecipe(t, "fedora.yaml", key, "  method: container\n", "  method: repo\n")
	env := distKeys(t, key)
	out, m, _ := buildImageEnv(t, env, recipe, "--mirror", bootstraptest.Serve(t, mirror))
	img := filepath.Join(out, "fedora-44.img")
	checkFixtureImage(t, img, osRelease, `rpm --import /var/cache/coimage-rpms/key-0\.asc\nrpm --install --force --nodeps --quiet( /var/cache/coimage-rpms/[0-9a-f]{64}\.rpm){14}\n`+
		regexp.QuoteMeta(enabled+"dnf -y clean all\n"))
	if len(m.Packages) != 14 || m.Packages[0].Name != "bash" || m.Packages[0].Version != "5.2-1.fc44" || len(m.Packages[0].SHA256) != 64 {
		t.Errorf("manifest packages %+v", m.Packages)
	}
	if f := imageFile(t, img, "/usr/share/fixture/systemd"); f != "systemd\n" {
		t.Errorf("systemd's file: %q", f)
	}
	bootHostname(t, img)
}

func TestBuildGentooFixture(t *testing.T) {
	requireFixtureBuild(t)
	key := pgptest.NewKey(t)
	mirror := t.TempDir()
	osRelease := "ID=gentoo\n"
	ping := bootstraptest.Entry{Name: "usr/bin/ping", Body: "#!/bin/sh\n", Mode: 0o755, Xattr: map[string]string{"security.capability": pingCap}}
	bootstraptest.WriteGentoo(t, mirror, key, "systemd", fixtureRoot(t, "emerge", osRelease, ping))
	recipe := shippedRecipe(t, "gentoo.yaml", key, gentooKeyServer(t, key)...)
	// the mirror from the environment this time
	out := t.TempDir()
	_, stderr, code := coimageEnv(t, []string{"SOURCE_DATE_EPOCH=" + testEpoch, "COIMAGE_GENTOO_MIRROR=" + bootstraptest.Serve(t, mirror)},
		"build", "--cache", buildCache(t), "--output", out, recipe)
	if code != 0 {
		t.Fatalf("coimage build: exit %d\n%s", code, stderr)
	}
	img := filepath.Join(out, "gentoo-systemd.img")
	checkFixtureImage(t, img, osRelease, regexp.QuoteMeta("emerge --noreplace --getbinpkg --usepkg sys-apps/iproute2 net-misc/iputils\n"+enabled))
	if repo := imageFile(t, img, "/var/db/repos/gentoo/profiles/repo_name"); repo != "gentoo\n" {
		t.Errorf("portage snapshot missing: %q", repo)
	}
	if ea := testutil.Run(t, "debugfs", "-R", "ea_list /usr/bin/ping", img); !strings.Contains(ea, "security.capability") {
		t.Errorf("ping lost its file capability: %q", ea)
	}
	bootHostname(t, img)
}

// TestBuildGentooRefuses: a tampered stage3, a bad signature and a
// missing DIGESTS entry each stop the build with an error naming the
// file, and leave neither output nor scratch tree.
func TestBuildGentooRefuses(t *testing.T) {
	requireFixtureBuild(t)
	key := pgptest.NewKey(t)
	root := fixtureRoot(t, "emerge", "ID=gentoo\n")
	recipe := shippedRecipe(t, "gentoo.yaml", key, gentooKeyServer(t, key)...)
	for _, tc := range []struct {
		name  string
		spoil func(dir string, g bootstraptest.Gentoo)
		want  []string
	}{
		{"tampered stage3", func(dir string, g bootstraptest.Gentoo) { bootstraptest.Tamper(t, dir, g.Stage3) },
			[]string{"stage3-amd64-systemd-", "SHA512", "checksum mismatch"}},
		{"bad signature", func(dir string, g bootstraptest.Gentoo) {
			bootstraptest.Resign(t, dir, g.Digests, pgptest.NewKey(t), g.DigestsText)
		}, []string{".DIGESTS", "bad OpenPGP signature"}},
		{"missing DIGESTS entry", func(dir string, g bootstraptest.Gentoo) {
			bootstraptest.Resign(t, dir, g.Digests, key, strings.ReplaceAll(g.DigestsText, "# SHA512", "# SHA256"))
		}, []string{".DIGESTS", "no SHA512 line", "no checksum entry"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mirror := t.TempDir()
			tc.spoil(mirror, bootstraptest.WriteGentoo(t, mirror, key, "systemd", root))
			out, work := t.TempDir(), t.TempDir()
			_, stderr, code := coimageEnv(t, nil, "build", "--mirror", bootstraptest.Serve(t, mirror),
				"--cache", t.TempDir(), "--output", out, "--workdir", work, recipe)
			if code == 0 {
				t.Fatal("build succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			assertEmpty(t, out)
			assertEmpty(t, work)
		})
	}
}

var (
	corunOnce sync.Once
	corunBin  string
	corunErr  error
)

// bootHostname boots the image under corun in command mode and checks
// that the guest reads the recipe's hostname.
func bootHostname(t *testing.T, img string) {
	t.Helper()
	kernel := umltest.BootKernel(t)
	corunOnce.Do(func() {
		corunBin = filepath.Join(filepath.Dir(coimageBin), "corun")
		if out, err := exec.Command("go", "build", "-o", corunBin, "../corun").CombinedOutput(); err != nil {
			corunErr = fmt.Errorf("go build ../corun: %v\n%s", err, out)
		}
	})
	if corunErr != nil {
		t.Fatal(corunErr)
	}
	// a short runtime directory keeps UML's socket paths within limits
	run, err := os.MkdirTemp("", "cr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(run)
	cmd := exec.Command(corunBin, "run", img, "kernel="+kernel.Path, "--", "cat", "/etc/hostname")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+run, "XDG_CACHE_HOME="+filepath.Join(run, "cache"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != "colinux\n" {
		t.Errorf("corun run -- cat /etc/hostname: %v, stdout %q\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("booted under corun: cat /etc/hostname printed %q", stdout.String())
}

// TestBuildRefusesUnpinnedKey: the shipped Fedora recipe pins Fedora's
// real key, so a test key is refused, whether it comes from the recipe's
// keys/ file or from the distribution-gpg-keys package, before anything
// is downloaded from the Fedora mirror.
func TestBuildRefusesUnpinnedKey(t *testing.T) {
	requireFixtureBuild(t)
	key := pgptest.NewKey(t)
	dir := t.TempDir()
	recipe := filepath.Join(dir, "fedora.yaml")
	data, err := os.ReadFile(filepath.Join("..", "..", "recipes", "fedora.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recipe, data, 0o644); err != nil {
		t.Fatal(err)
	}
	env := distKeys(t, key)
	out := t.TempDir()
	args := []string{"build", "--cache", t.TempDir(), "--mirror", "http://127.0.0.1:1", "--output", out}
	_, stderr, code := coimageEnv(t, env, append(args, recipe)...)
	if code == 0 || !strings.Contains(stderr, "RPM-GPG-KEY-fedora-44-primary") || !strings.Contains(stderr, "36F612DCF27F7D1A48A835E4DBFCF71C6D9F90A6") ||
		!strings.Contains(stderr, "key fingerprint does not match the pin") {
		t.Errorf("package key: exit %d\n%s", code, stderr)
	}
	key.WritePublic(t, filepath.Join(dir, "keys", "fedora.gpg"))
	_, stderr, code = coimageEnv(t, env, append(args, recipe)...)
	if code == 0 || !strings.Contains(stderr, filepath.Join(dir, "keys", "fedora.gpg")) || !strings.Contains(stderr, "key fingerprint does not match the pin") {
		t.Errorf("keys/ file: exit %d\n%s", code, stderr)
	}
	assertEmpty(t, out)
}
