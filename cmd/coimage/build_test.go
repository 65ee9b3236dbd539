//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/bootstrap"
)

// The build tests need root (the second stage chroots) and the Debian
// archive; they skip without either, and fail under CI=true, where both
// are given.

// testEpoch pins SOURCE_DATE_EPOCH so that builds compare byte for byte.
const testEpoch = "1700000000"

var (
	cacheOnce sync.Once
	cacheDir  string
)

// buildCache is the package cache every build test shares, so only the
// first build downloads: $COIMAGE_TEST_CACHE, else a directory that
// outlives the run (its content is verified before every use).
func buildCache(t *testing.T) string {
	cacheOnce.Do(func() {
		cacheDir = os.Getenv("COIMAGE_TEST_CACHE")
		if cacheDir == "" {
			cacheDir = filepath.Join(os.TempDir(), "coimage-test-cache")
		}
	})
	return cacheDir
}

func requireBuild(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds an image: skipped with -short")
	}
	testutil.Require(t, os.Geteuid() == 0, "coimage build needs root")
	_, err := archive.MirrorFrom("")
	testutil.Require(t, err == nil, "no Debian mirror configured")
	for _, tool := range []string{"mke2fs", "debugfs", "dumpe2fs", "e2fsck"} {
		testutil.RequireTool(t, tool)
	}
}

// buildImage runs coimage build and returns the output directory, the
// manifest and what the build said on stderr; it fails the test when the
// build fails.
func buildImage(t *testing.T, recipe string, extra ...string) (string, buildManifest, string) {
	t.Helper()
	return buildImageEnv(t, nil, recipe, extra...)
}

// buildImageEnv is buildImage with extra environment.
func buildImageEnv(t *testing.T, env []string, recipe string, extra ...string) (string, buildManifest, string) {
	t.Helper()
	out := t.TempDir()
	args := append([]string{"build", "--json", "--cache", buildCache(t), "--output", out}, extra...)
	stdout, stderr, code := coimageEnv(t, append([]string{"SOURCE_DATE_EPOCH=" + testEpoch}, env...), append(args, recipe)...)
	if code != 0 {
		t.Fatalf("coimage build %s: exit %d\n%s", recipe, code, stderr)
	}
	var m buildManifest
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("manifest on stdout: %v\n%s", err, stdout)
	}
	return out, m, stderr
}

// imageFile reads a file from an ext4 image with debugfs.
func imageFile(t *testing.T, img, path string) string {
	t.Helper()
	return testutil.Run(t, "debugfs", "-R", "cat "+path, img)
}

// checkImage verifies what every built Debian image must hold; version
// is the Debian release it must be.
func checkImage(t *testing.T, img string, m buildManifest, hostname, version string) {
	t.Helper()
	testutil.Run(t, "e2fsck", "-fn", img)
	if osr := imageFile(t, img, "/usr/lib/os-release"); !strings.Contains(osr, `VERSION_ID="`+version+`"`) || !strings.Contains(osr, "ID=debian") {
		t.Errorf("os-release is not Debian %s:\n%s", version, osr)
	}
	status := imageFile(t, img, "/var/lib/dpkg/status")
	installed := map[string]bool{}
	for _, para := range strings.Split(status, "\n\n") {
		var name, state string
		for _, l := range strings.Split(para, "\n") {
			if v, ok := strings.CutPrefix(l, "Package: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(l, "Status: "); ok {
				state = v
			}
		}
		if name == "" {
			continue
		}
		if state != "install ok installed" {
			t.Errorf("package %s: status %q", name, state)
		}
		installed[name] = true
	}
	for _, p := range m.Packages {
		if !installed[p.Name] {
			t.Errorf("manifest lists %s, dpkg does not", p.Name)
		}
		if len(p.SHA256) != 64 || p.Version == "" {
			t.Errorf("manifest entry %+v incomplete", p)
		}
	}
	if got := strings.TrimSpace(imageFile(t, img, "/etc/hostname")); got != hostname {
		t.Errorf("hostname %q, want %q", got, hostname)
	}
	if fstab := imageFile(t, img, "/etc/fstab"); !strings.Contains(fstab, "/dev/ubda\t/\text4") {
		t.Errorf("fstab lacks the root on /dev/ubda:\n%s", fstab)
	}
	if id := imageFile(t, img, "/etc/machine-id"); id != "" {
		t.Errorf("machine-id %q, want empty", id)
	}
	if sum := sha256File(t, img); sum != m.Image.SHA256 {
		t.Errorf("image SHA256 %s, manifest says %s", sum, m.Image.SHA256)
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	return strings.Fields(testutil.Run(t, "sha256sum", path))[0]
}

// minbaseRecipe writes the smallest recipe for a Debian release.
func minbaseRecipe(t *testing.T, codename string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "minbase.yaml")
	text := "image:\n  name: minbase\n  distribution: debian\n  release: " + codename + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBuildMinbaseTwiceIdentical builds minbase of Debian 13 and 12 three
// ways each that must give the same bytes: as the cache stands, restoring
// the configured base that build left in the cache, and installing every
// package afresh. The package cache is shared, so only the first run of
// all downloads.
func TestBuildMinbaseTwiceIdentical(t *testing.T) {
	requireBuild(t)
	for _, rel := range []struct{ codename, version string }{{"trixie", "13"}, {"bookworm", "12"}} {
		t.Run(rel.codename, func(t *testing.T) {
			recipe := minbaseRecipe(t, rel.codename)
			out1, m1, _ := buildImage(t, recipe)
			img1 := filepath.Join(out1, "minbase.img")
			checkImage(t, img1, m1, "minbase", rel.version)
			if shadow := imageFile(t, img1, "/etc/shadow"); !strings.HasPrefix(shadow, "root:!:") {
				t.Errorf("root is not locked: %q", strings.SplitN(shadow, "\n", 2)[0])
			}
			if _, err := os.Stat(filepath.Join(out1, "minbase.manifest.json")); err != nil {
				t.Error(err)
			}

			out2, m2, log := buildImage(t, recipe, "--verbose")
			if !strings.Contains(log, "base cache: restored") {
				t.Errorf("the second build did not restore its base from the cache:\n%s", lastLines(log, 20))
			}
			out3, m3, log := buildImage(t, recipe, "--verbose", "--no-base-cache")
			if strings.Contains(log, "base cache:") {
				t.Errorf("--no-base-cache build used the base cache:\n%s", lastLines(log, 20))
			}
			for _, b := range []struct {
				what, out string
				m         buildManifest
			}{{"restored", out2, m2}, {"installed afresh", out3, m3}} {
				if b.m.Image.SHA256 != m1.Image.SHA256 {
					t.Errorf("image with its base %s differs: %s, first build %s", b.what, b.m.Image.SHA256, m1.Image.SHA256)
				} else if testutil.Run(t, "cmp", img1, filepath.Join(b.out, "minbase.img")) != "" {
					t.Errorf("cmp found differences in the image with its base %s", b.what)
				}
			}
		})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestBuildDebianRecipes builds the shipped Debian 13 and 12 recipes.
func TestBuildDebianRecipes(t *testing.T) {
	requireBuild(t)
	for _, rel := range []struct{ recipe, image, version string }{
		{"debian.yaml", "debian-13.img", "13"}, {"debian-12.yaml", "debian-12.img", "12"},
	} {
		t.Run(rel.recipe, func(t *testing.T) {
			out, m, _ := buildImage(t, filepath.Join("..", "..", "recipes", rel.recipe))
			img := filepath.Join(out, rel.image)
			checkImage(t, img, m, "colinux", rel.version)
			shadow := imageFile(t, img, "/etc/shadow")
			if !strings.Contains(shadow, "root:$6$colinux$") {
				t.Errorf("root password hash missing from shadow:\n%s", shadow)
			}
			wants := testutil.Run(t, "debugfs", "-R", "ls /etc/systemd/system/getty.target.wants", img)
			for _, unit := range []string{"getty@tty0.service", "getty@ttyS0.service"} {
				if !strings.Contains(wants, unit) {
					t.Errorf("getty.target.wants lacks %s: %s", unit, wants)
				}
			}
			if net := imageFile(t, img, "/etc/systemd/network/20-eth0.network"); !strings.Contains(net, "DHCP=yes") {
				t.Errorf("eth0 network file: %q", net)
			}
			names := map[string]bool{}
			for _, p := range m.Packages {
				names[p.Name] = true
			}
			for _, want := range []string{"systemd", "systemd-sysv", "udev", "iproute2", "apt", "dbus"} {
				if !names[want] {
					t.Errorf("%s not installed", want)
				}
			}
		})
	}
}

// TestBuildUsers checks extra accounts, groups and ssh keys.
func TestBuildUsers(t *testing.T) {
	requireBuild(t)
	dir := t.TempDir()
	recipe := filepath.Join(dir, "users.yaml")
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7s1cpEYyOmk3mBRrT2ciHQ5ZaXQzKtGoJbjoEZZhn3 alice@test"
	os.WriteFile(recipe, []byte(`image: {name: users, distribution: debian, release: bookworm}
hostname: userbox
users:
  extra:
    - name: alice
      groups: [sudo, video]
      ssh_keys: ["`+key+`"]
files:
  - path: /etc/motd
    content: "hello\n"
    mode: "0640"
    owner: alice:video
`), 0o644)
	out, m, _ := buildImage(t, recipe)
	img := filepath.Join(out, "users.img")
	checkImage(t, img, m, "userbox", "12")
	if passwd := imageFile(t, img, "/etc/passwd"); !strings.Contains(passwd, "alice:x:1000:1000::/home/alice:/bin/bash") {
		t.Errorf("alice missing from passwd:\n%s", passwd)
	}
	group := imageFile(t, img, "/etc/group")
	for _, g := range []string{"sudo", "video"} {
		if !strings.Contains(group, g+":x:") || !strings.Contains(group[strings.Index(group, g+":x:"):], "alice") {
			t.Errorf("alice not in group %s", g)
		}
	}
	if keys := imageFile(t, img, "/home/alice/.ssh/authorized_keys"); keys != key+"\n" {
		t.Errorf("authorized_keys %q", keys)
	}
	stat := testutil.Run(t, "debugfs", "-R", "stat /etc/motd", img)
	if !strings.Contains(stat, "Mode:  0640") || !strings.Contains(stat, "User:  1000") || !strings.Contains(stat, "Group:    44") {
		t.Errorf("/etc/motd owner or mode wrong:\n%s", stat)
	}
}

// TestBuildFailingScript: the script's output and status are shown, and
// neither output files nor mounts nor the scratch tree survive.
func TestBuildFailingScript(t *testing.T) {
	requireBuild(t)
	dir, out, work := t.TempDir(), t.TempDir(), t.TempDir()
	recipe := filepath.Join(dir, "fail.yaml")
	os.WriteFile(recipe, []byte(`image: {name: fail, distribution: debian, release: bookworm}
scripts:
  - name: doomed
    run: "echo about to fail; ls /proc/self/mountinfo; exit 7"
`), 0o644)
	_, stderr, code := coimageEnv(t, nil, "build", "--cache", buildCache(t), "--output", out, "--workdir", work, recipe)
	if code == 0 {
		t.Fatal("build succeeded")
	}
	for _, want := range []string{`"doomed"`, "exit status 7", "about to fail", "/proc/self/mountinfo"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	assertEmpty(t, out)
	assertEmpty(t, work)
	if mounts, err := bootstrap.MountsUnder(work); err != nil || len(mounts) > 0 {
		t.Errorf("mounts survive: %v %v", mounts, err)
	}
}

// TestBuildTamperedCache: a cached .deb that changed is refused, naming
// the package, and nothing is written.
func TestBuildTamperedCache(t *testing.T) {
	requireBuild(t)
	recipe := filepath.Join("..", "..", "pkg", "recipe", "testdata", "minbase.yaml")
	_, m, _ := buildImage(t, recipe) // warms the shared cache; names the debs
	cache := t.TempDir()
	testutil.Run(t, "cp", "-a", buildCache(t)+"/.", cache)
	var victim bootstrap.Package
	for _, p := range m.Packages {
		if p.Name == "base-files" {
			victim = p
		}
	}
	deb := filepath.Join(cache, "debs", "sha256", victim.SHA256)
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatalf("cached base-files: %v", err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(deb, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	_, stderr, code := coimageEnv(t, nil, "build", "--cache", cache, "--output", out, recipe)
	if code == 0 {
		t.Fatal("build with a tampered cache succeeded")
	}
	if !strings.Contains(stderr, "base-files") || !strings.Contains(stderr, archive.ErrChecksum.Error()) {
		t.Errorf("error does not name the package and the mismatch:\n%s", stderr)
	}
	assertEmpty(t, out)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s: left behind: %s", dir, e.Name())
	}
}
