package bootstrap

import (
	"errors"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive"
)

const latestText = `# Latest as of Sun, 05 May 2024 17:00:02 +0000
# ts=1714928402
20240505T170314Z/stage3-amd64-systemd-20240505T170314Z.tar.xz 281365584
`

func TestParseLatest(t *testing.T) {
	p, size, err := parseLatest([]byte(latestText), "amd64", "systemd", "latest.txt")
	if err != nil || p != "20240505T170314Z/stage3-amd64-systemd-20240505T170314Z.tar.xz" || size != 281365584 {
		t.Fatalf("%q %d %v", p, size, err)
	}
	for name, text := range map[string]string{
		"other flavor": strings.ReplaceAll(latestText, "systemd", "openrc"),
		"escape":       "../../x/stage3-amd64-systemd-1.tar.xz 10\n",
		"absolute":     "/stage3-amd64-systemd-1.tar.xz 10\n",
		"no size":      "20240505T170314Z/stage3-amd64-systemd-20240505T170314Z.tar.xz\n",
		"empty":        "# nothing\n",
	} {
		if _, _, err := parseLatest([]byte(text), "amd64", "systemd", "latest.txt"); !errors.Is(err, archive.ErrFormat) ||
			!strings.HasPrefix(err.Error(), "latest.txt") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

const digestsText = `# BLAKE2B HASH
aaaa  stage3-amd64-systemd-20240505T170314Z.tar.xz
# SHA512 HASH
BBBB  stage3-amd64-systemd-20240505T170314Z.tar.xz
# SHA512 HASH
cccc  stage3-amd64-systemd-20240505T170314Z.tar.xz.CONTENTS.gz
`

func TestParseDigests(t *testing.T) {
	d, err := parseDigests([]byte(digestsText), "stage3-amd64-systemd-20240505T170314Z.tar.xz", 7, "D")
	if err != nil || d != (digest{Algo: "SHA512", Sum: "bbbb", Size: 7}) {
		t.Fatalf("%+v %v", d, err)
	}
	_, err = parseDigests([]byte(digestsText), "stage3-amd64-systemd-20240101T000000Z.tar.xz", 7, "D")
	if !errors.Is(err, ErrNoDigest) || !strings.Contains(err.Error(), "20240101T000000Z") {
		t.Errorf("missing entry: %v", err)
	}
	// a BLAKE2B line alone does not count
	only := strings.Split(digestsText, "# SHA512")[0]
	if _, err := parseDigests([]byte(only), "stage3-amd64-systemd-20240505T170314Z.tar.xz", 7, "D"); !errors.Is(err, ErrNoDigest) {
		t.Errorf("BLAKE2B only: %v", err)
	}
}

const listing = `<html><body><pre>
<a href="../">../</a>
<a href="Fedora-Container-42-1.1-x86_64-CHECKSUM">Fedora-Container-42-1.1-x86_64-CHECKSUM</a>
<a href="Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz">Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz</a>
</pre></body></html>`

const checksumText = `# Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz: 52133320 bytes
SHA256 (Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz) = 1111111111111111111111111111111111111111111111111111111111111111
# Fedora-Container-Minimal-Base-Generic-42-1.1.x86_64.oci.tar.xz: 3 bytes
SHA256 (Fedora-Container-Minimal-Base-Generic-42-1.1.x86_64.oci.tar.xz) = 2222222222222222222222222222222222222222222222222222222222222222
SHA256 (Fedora-Container-Toolbox-42-1.1.x86_64.oci.tar.xz) = 3333333333333333333333333333333333333333333333333333333333333333
`

func TestFedoraChecksum(t *testing.T) {
	name, err := findChecksum([]byte(listing), "42", "x86_64", "dir/")
	if err != nil || name != "Fedora-Container-42-1.1-x86_64-CHECKSUM" {
		t.Fatalf("findChecksum: %q %v", name, err)
	}
	if _, err := findChecksum([]byte(listing), "41", "x86_64", "dir/"); !errors.Is(err, archive.ErrFormat) {
		t.Errorf("other release: %v", err)
	}
	sums, err := parseChecksum([]byte(checksumText), "CHECKSUM")
	if err != nil || len(sums) != 3 {
		t.Fatalf("parseChecksum: %v %v", sums, err)
	}
	img, err := pickContainerBase(sums, "42", "x86_64", "CHECKSUM")
	if err != nil || img != "Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz" || sums[img].Size != 52133320 || sums[img].Algo != "SHA256" {
		t.Fatalf("pick: %q %+v %v", img, sums[img], err)
	}
	// another release's signed CHECKSUM served under this release's name
	if _, err := pickContainerBase(sums, "43", "x86_64", "CHECKSUM"); !errors.Is(err, ErrNoDigest) {
		t.Errorf("other release: %v", err)
	}
	if _, err := parseChecksum([]byte("SHA256 (a) = xyz\n"), "CHECKSUM"); !errors.Is(err, archive.ErrFormat) || !strings.HasPrefix(err.Error(), "CHECKSUM:1:") {
		t.Errorf("bad line: %v", err)
	}
}

func TestPickMirror(t *testing.T) {
	t.Setenv(GentooMirrorEnv, "")
	if m, _ := pickMirror("", GentooMirrorEnv, "", GentooDefaultMirror, "gentoo"); m != GentooDefaultMirror {
		t.Errorf("default: %q", m)
	}
	if m, _ := pickMirror("", GentooMirrorEnv, "http://recipe/", GentooDefaultMirror, "gentoo"); m != "http://recipe" {
		t.Errorf("recipe: %q", m)
	}
	t.Setenv(GentooMirrorEnv, "http://env")
	if m, _ := pickMirror("", GentooMirrorEnv, "http://recipe", GentooDefaultMirror, "gentoo"); m != "http://env" {
		t.Errorf("env over recipe: %q", m)
	}
	if m, _ := pickMirror("file:///srv/m", GentooMirrorEnv, "http://recipe", GentooDefaultMirror, "gentoo"); m != "file:///srv/m" {
		t.Errorf("flag over env: %q", m)
	}
	if _, err := pickMirror("ftp://x", GentooMirrorEnv, "", GentooDefaultMirror, "gentoo"); err == nil {
		t.Error("ftp accepted")
	}
}

// Fuzz targets for the parsers of downloaded (signed, but still outside)
// text: no input may panic.
func FuzzParseLatest(f *testing.F) {
	f.Add([]byte(latestText))
	f.Fuzz(func(t *testing.T, b []byte) { parseLatest(b, "amd64", "systemd", "f") })
}

func FuzzParseDigests(f *testing.F) {
	f.Add([]byte(digestsText))
	f.Fuzz(func(t *testing.T, b []byte) { parseDigests(b, "stage3-amd64-systemd-20240505T170314Z.tar.xz", 1, "f") })
}

func FuzzParseChecksum(f *testing.F) {
	f.Add([]byte(checksumText), []byte(listing))
	f.Fuzz(func(t *testing.T, sums, list []byte) {
		findChecksum(list, "42", "x86_64", "f")
		if m, err := parseChecksum(sums, "f"); err == nil {
			pickContainerBase(m, "42", "x86_64", "f")
		}
	})
}
