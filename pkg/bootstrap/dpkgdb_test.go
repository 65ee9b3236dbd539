package bootstrap

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive"
)

func testUnpacked(name, multiArch string, files map[string]string) *unpacked {
	ctl := &archive.Control{Raw: []byte("Package: " + name + "\nVersion: 1.0\nArchitecture: amd64\nDescription: test\n"), Files: map[string][]byte{}}
	for k, v := range files {
		ctl.Files[k] = []byte(v)
	}
	return &unpacked{
		pkg:       &archive.Package{Name: name, Version: "1.0", Architecture: "amd64", MultiArch: multiArch},
		control:   ctl,
		files:     []string{"/.", "/etc", "/etc/" + name + ".conf"},
		conffiles: parseConffiles(ctl.Files["conffiles"]),
	}
}

func TestStatusEntry(t *testing.T) {
	u := testUnpacked("foo", "", map[string]string{"conffiles": "/etc/foo.conf\nremove-on-upgrade /etc/old.conf\n"})
	want := "Package: foo\nStatus: install ok unpacked\nVersion: 1.0\nArchitecture: amd64\nDescription: test\n" +
		"Conffiles:\n /etc/foo.conf newconffile\n\n"
	if got := string(u.statusEntry()); got != want {
		t.Errorf("status entry:\n%s\nwant:\n%s", got, want)
	}
}

func TestInfoName(t *testing.T) {
	if n := testUnpacked("libc6", "same", nil).infoName(); n != "libc6:amd64" {
		t.Errorf("Multi-Arch: same: %q", n)
	}
	if n := testUnpacked("bash", "foreign", nil).infoName(); n != "bash" {
		t.Errorf("Multi-Arch: foreign: %q", n)
	}
}

func TestWriteDpkgDB(t *testing.T) {
	target := t.TempDir()
	pkgs := []*unpacked{
		testUnpacked("libc-bin", "foreign", map[string]string{"postinst": "#!/bin/sh\n", "triggers": "interest-noawait ldconfig\n"}),
		testUnpacked("libfoo", "same", map[string]string{"triggers": "interest /usr/lib/foo\nactivate-noawait ldconfig\n"}),
	}
	if err := writeDpkgDB(target, pkgs); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(target, dpkgDir)
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(db, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if s := read("status"); strings.Count(s, "Status: install ok unpacked") != 2 {
		t.Errorf("status:\n%s", s)
	}
	if l := read("info/libfoo:amd64.list"); l != "/.\n/etc\n/etc/libfoo.conf\n" {
		t.Errorf("list %q", l)
	}
	if fi, err := os.Stat(filepath.Join(db, "info/libc-bin.postinst")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("postinst not executable: %v %v", fi, err)
	}
	if s := read("triggers/ldconfig"); s != "libc-bin/noawait\n" {
		t.Errorf("triggers/ldconfig %q", s)
	}
	if s := read("triggers/File"); s != "/usr/lib/foo libfoo:amd64\n" {
		t.Errorf("triggers/File %q", s)
	}
}

func TestNotInstalled(t *testing.T) {
	status := "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok unpacked\n\n" +
		"Package: c\nStatus: purge ok not-installed\n\nPackage: d\nStatus: install reinstreq half-configured\n"
	want := []string{"b (install ok unpacked)", "d (install reinstreq half-configured)"}
	if got := notInstalled([]byte(status)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestConfigureScriptOrder(t *testing.T) {
	s := configureScript([]*unpacked{
		testUnpacked("base-files", "", nil),
		testUnpacked("base-passwd", "", map[string]string{"preinst": "#!/bin/sh\n"}),
		testUnpacked("libc6", "same", map[string]string{"preinst": "#!/bin/sh\n"}),
	})
	pre := strings.Index(s, "/var/lib/dpkg/info/libc6:amd64.preinst install")
	first := strings.Index(s, "dpkg --force-depends --configure base-files base-passwd")
	all := strings.Index(s, "dpkg --configure -a")
	if pre < 0 || first < pre || all < first {
		t.Errorf("preinsts, then base, then the rest expected:\n%s", s)
	}
}

// A conffile name from a hostile package must not rename anything
// outside the target, through ".." or a symlinked directory.
func TestStageConffilesStaysInTarget(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target")
	if err := os.MkdirAll(filepath.Join(target, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(target, "etc", "link")); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(target, victim)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"/" + rel, "/etc/link/victim", "../../" + victim} {
		u := testUnpacked("evil", "", map[string]string{"conffiles": c + "\n"})
		if err := u.stageConffiles(target); err == nil {
			t.Errorf("conffile %s: staged", c)
		}
		if _, err := os.Stat(victim); err != nil {
			t.Fatalf("conffile %s: %v", c, err)
		}
	}
	u := testUnpacked("good", "", map[string]string{"conffiles": "/etc/good.conf\n"})
	if err := os.WriteFile(filepath.Join(target, "etc", "good.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := u.stageConffiles(target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "etc", "good.conf.dpkg-new")); err != nil {
		t.Error(err)
	}
}
