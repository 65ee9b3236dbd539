package bootstrap

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/rpm"
	"github.com/colinux-ng/colinux/pkg/rpm/rpmtest"
	"github.com/colinux-ng/colinux/pkg/rpmrepo"
)

// unpackSpec writes spec as a package and unpacks it into target.
func unpackSpec(t *testing.T, spec rpmtest.Spec, target string) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), spec.FileName())
	if err := os.WriteFile(path, rpmtest.Build(t, spec, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return unpackRPM(context.Background(), verifiedRPM{pkg: &rpmrepo.Package{Name: spec.Name}, path: path}, target)
}

// TestUnpackRPM: hard link sets (data with the last name), symlinks,
// modes and owners looked up in the tree's account files.
func TestUnpackRPM(t *testing.T) {
	requireRoot(t)
	target := t.TempDir()
	os.MkdirAll(filepath.Join(target, "etc"), 0o755)
	os.WriteFile(filepath.Join(target, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\ntss:x:59:59::/:/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(target, "etc/group"), []byte("root:x:0:\ntss:x:59:\n"), 0o644)
	err := unpackSpec(t, rpmtest.Spec{Name: "p", Version: "1", Release: "1", Arch: "x86_64", Compressor: "xz", Files: []rpmtest.File{
		{Path: "/usr/bin/a", Body: "data\n", Mode: 0o755, Ino: 7},
		{Path: "/usr/bin/b", Body: "data\n", Mode: 0o755, Ino: 7},
		{Path: "/usr/bin/c", Link: "a"},
		{Path: "/var/lib/tpm/", Mode: 0o700, User: "tss", Group: "tss"},
		{Path: "/etc/secret", Body: "s", Mode: 0o600, User: "unknown"},
	}}, target)
	if err != nil {
		t.Fatal(err)
	}
	a, errA := os.Stat(filepath.Join(target, "usr/bin/a"))
	b, errB := os.Stat(filepath.Join(target, "usr/bin/b"))
	if errA != nil || errB != nil || !os.SameFile(a, b) || a.Size() != 5 || a.Mode().Perm() != 0o755 {
		t.Errorf("hard link set: %v %v %v", a, b, errors.Join(errA, errB))
	}
	if l, err := os.Readlink(filepath.Join(target, "usr/bin/c")); err != nil || l != "a" {
		t.Errorf("symlink: %q %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(target, "var/lib/tpm")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 59 || fi.Mode().Perm() != 0o700 {
		t.Errorf("owned directory: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(target, "etc/secret")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("unknown owner is root: %v %v", fi, err)
	}
}

// TestUnpackRPMEscape: a signed package still cannot write outside the
// tree, neither by name nor through a symlink it made.
func TestUnpackRPMEscape(t *testing.T) {
	requireRoot(t)
	outside := t.TempDir()
	for name, files := range map[string][]rpmtest.File{
		"dotdot":  {{Path: "/../escaped", Body: "x"}},
		"symlink": {{Path: "/usr/", Mode: 0o755}, {Path: "/usr/out", Link: outside}, {Path: "/usr/out/escaped", Body: "x"}},
	} {
		err := unpackSpec(t, rpmtest.Spec{Name: name, Version: "1", Release: "1", Arch: "x86_64", Files: files}, t.TempDir())
		if !errors.Is(err, archive.ErrUnsafePath) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(outside, "escaped")); err == nil {
			t.Fatalf("%s: wrote outside the tree", name)
		}
	}
}

// FuzzCPIOToTar: any payload converts to a tar stream or an error, never
// a panic; hard link sets stay within the stream.
func FuzzCPIOToTar(f *testing.F) {
	f.Add([]byte("070701000000070000a1ed000000000000000000000002677602250000000000000000000000000000000000000000000000060000000000./abc\x00" +
		"070701000000070000a1ed000000000000000000000002677602250000000300000000000000000000000000000000000000060000000000./abd\x00hi\n\x00" +
		"07070100000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000b00000000TRAILER!!!\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := cpioToTar(rpm.NewCPIOReader(bytes.NewReader(data), "fuzz"), &out, nil); err != nil {
			return
		}
		tr := tar.NewReader(&out)
		for {
			if _, err := tr.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("cpioToTar wrote an unreadable tar: %v", err)
			}
		}
	})
}
