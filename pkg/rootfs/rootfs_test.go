package rootfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/ext4"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

func TestSeededUUID(t *testing.T) {
	a, b := seededUUID("x"), seededUUID("y")
	if a == b || a != seededUUID("x") || len(a) != 36 || a[14] != '4' || !strings.ContainsAny(a[19:20], "89ab") {
		t.Errorf("uuids %s %s", a, b)
	}
}

func TestGeometry(t *testing.T) {
	u := usage{blocks: 25000, inodes: 6000} // ~100 MB, like minbase
	size, inodes := u.geometry(recipe.Size{}, recipe.Headroom{Percent: 20})
	if size%(1<<20) != 0 || size < 25000*blockSize*12/10 || size > 25000*blockSize*2 {
		t.Errorf("auto size %d for %d blocks", size, u.blocks)
	}
	if inodes < 7200 {
		t.Errorf("inodes %d", inodes)
	}
	size, _ = u.geometry(recipe.Size{Bytes: 1 << 30}, recipe.Headroom{})
	if size != 1<<30 {
		t.Errorf("fixed size %d", size)
	}
	size, _ = usage{blocks: 1, inodes: 1}.geometry(recipe.Size{}, recipe.Headroom{Bytes: 1 << 20})
	if size != recipe.MinSize {
		t.Errorf("tiny tree: %d, want the minimum", size)
	}
}

func TestFstab(t *testing.T) {
	got := fstab([]recipe.Mount{recipe.RootMount(), {Device: "tmpfs", Mountpoint: "/tmp", Type: "tmpfs", Options: "defaults"}})
	for _, want := range []string{"/dev/ubda\t/\text4\terrors=remount-ro\t0\t1\n", "tmpfs\t/tmp\ttmpfs\tdefaults\t0\t0\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("fstab lacks %q:\n%s", want, got)
		}
	}
}

func TestGettyUnit(t *testing.T) {
	for tty, want := range map[string]string{"tty0": "getty@tty0.service", "ttyS0": "getty@ttyS0.service", "hvc0": "getty@hvc0.service"} {
		if got := gettyUnit(tty); got != want {
			t.Errorf("%s: %s, want %s", tty, got, want)
		}
	}
}

func TestOwner(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nvideo:x:44:alice\n"), 0o644)
	tr, _ := os.OpenRoot(root)
	defer tr.Close()
	ids, err := readIDs(tr)
	if err != nil {
		t.Fatal(err)
	}
	if u, g, err := ids.owner("alice:video"); err != nil || u != 1000 || g != 44 {
		t.Errorf("alice:video = %d:%d %v", u, g, err)
	}
	if u, g, err := ids.owner("5:7"); err != nil || u != 5 || g != 7 {
		t.Errorf("5:7 = %d:%d %v", u, g, err)
	}
	if _, _, err := ids.owner("bob:root"); err == nil || !strings.Contains(err.Error(), `"bob"`) {
		t.Errorf("unknown user: %v", err)
	}
}

// TestWriteFileReplacesLinks: a recipe file replaces a symlink instead of
// writing through it, and cannot leave the tree.
func TestWriteFileReplacesLinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o644)
	os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, "etc/motd"))
	os.Symlink(outside, filepath.Join(root, "escape"))
	tr, _ := os.OpenRoot(root)
	defer tr.Close()
	if err := writeFile(tr, "etc/motd", []byte("hi"), 0o640, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "victim")); string(data) != "keep" {
		t.Error("wrote through the symlink")
	}
	if fi, err := os.Lstat(filepath.Join(root, "etc/motd")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
		t.Errorf("motd: %v %v", fi, err)
	}
	if err := writeFile(tr, "escape/x", []byte("x"), 0o644, 0, 0); err == nil {
		t.Error("wrote outside the tree")
	}
}

func TestNormalize(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"etc/machine-id", "etc/passwd-", "var/log/dpkg.log", "var/lib/apt/lists/x_Packages", "usr/lib/python3/__pycache__/a.pyc", "etc/ssh/ssh_host_rsa_key", "usr/bin/keep", "tmp/junk"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/sbin/sshd"), nil, 0o755)
	old := time.Unix(1000, 0)
	os.Chtimes(filepath.Join(root, "usr/bin/keep"), old, old)
	const epoch = 1700000000
	if err := Normalize(root, epoch); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"etc/passwd-", "var/log/dpkg.log", "var/lib/apt/lists/x_Packages", "usr/lib/python3/__pycache__", "etc/ssh/ssh_host_rsa_key", "tmp/junk"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s survives", gone)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/machine-id")); err != nil || fi.Size() != 0 {
		t.Errorf("machine-id not emptied: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/ssh-host-keys.service")); err != nil {
		t.Errorf("ssh host key unit not enabled: %v", err)
	}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.ModTime().Unix() > epoch {
			t.Errorf("%s: mtime %v after the epoch", p, fi.ModTime())
		}
		return nil
	})
	if fi, _ := os.Stat(filepath.Join(root, "usr/bin/keep")); fi.ModTime().Unix() != 1000 {
		t.Errorf("older mtime changed: %v", fi.ModTime())
	}
}

// TestPackReproducible: two trees with equal content made at different
// times pack into equal bytes that e2fsck accepts.
func TestPackReproducible(t *testing.T) {
	for _, tool := range []string{"mke2fs", "debugfs", "dumpe2fs", "e2fsck"} {
		testutil.RequireTool(t, tool)
	}
	const epoch = 1700000000
	var sums []string
	for i := range 2 {
		root := t.TempDir()
		for j := range 50 {
			d := filepath.Join(root, "d", string(rune('a'+j%5)))
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "f"+string(rune('a'+j))), []byte(strings.Repeat("x", j*100)), 0o644)
		}
		os.Symlink("d/a", filepath.Join(root, "link"))
		// whatever the tree's /dev holds is replaced by the standard set
		os.MkdirAll(filepath.Join(root, "dev/pts/0"), 0o700)
		os.WriteFile(filepath.Join(root, "dev/null"), []byte("a leftover file"), 0o600)
		if err := Normalize(root, epoch); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			time.Sleep(1100 * time.Millisecond) // different ctimes in the tree
		}
		img := filepath.Join(t.TempDir(), "x.img")
		im, err := Pack(context.Background(), root, img, PackOptions{Epoch: epoch, Seed: "seed", Headroom: recipe.Headroom{Percent: 20}})
		if err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, "e2fsck", "-fn", img)
		if !strings.Contains(testutil.Run(t, "dumpe2fs", "-h", img), "Filesystem volume name:   rootfs") {
			t.Error("label missing")
		}
		checkDev(t, img, epoch)
		sums = append(sums, im.SHA256)
	}
	if sums[0] != sums[1] {
		t.Errorf("two packs differ: %v", sums)
	}
}

// checkDev requires the image's /dev to be mmdebstrap's: these entries,
// root-owned, every time the epoch.
func checkDev(t *testing.T, img string, epoch int64) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	fsys, err := ext4.Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(dir *ext4.Inode, name string) *ext4.Inode {
		t.Helper()
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name == name {
				ino, err := fsys.Inode(e.Inode)
				if err != nil {
					t.Fatal(err)
				}
				return ino
			}
		}
		return nil
	}
	root, err := fsys.Inode(2)
	if err != nil {
		t.Fatal(err)
	}
	dev := lookup(root, "dev")
	if dev == nil || dev.Mode != 0o40755 || dev.UID != 0 || dev.GID != 0 || dev.Mtime.Unix() != epoch {
		t.Fatalf("/dev: %+v", dev)
	}
	// name: mode, major, minor or symlink target
	want := map[string]string{
		"console": "20666 5 1", "full": "20666 1 7", "null": "20666 1 3", "ptmx": "20666 5 2", "random": "20666 1 8",
		"tty": "20666 5 0", "urandom": "20666 1 9", "zero": "20666 1 5", "pts": "40755 0 0", "shm": "40755 0 0",
		"fd": "120777 /proc/self/fd", "stdin": "120777 /proc/self/fd/0", "stdout": "120777 /proc/self/fd/1", "stderr": "120777 /proc/self/fd/2",
	}
	entries, err := fsys.ReadDir(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("/dev has %d entries, want %d: %v", len(entries), len(want), entries)
	}
	for name, w := range want {
		ino := lookup(dev, name)
		if ino == nil {
			t.Errorf("/dev/%s missing", name)
			continue
		}
		got := fmt.Sprintf("%o %d %d", ino.Mode, ino.Major, ino.Minor)
		if ino.Type() == ext4.TypeSymlink {
			target, err := fsys.Readlink(ino)
			if err != nil {
				t.Fatal(err)
			}
			got = fmt.Sprintf("%o %s", ino.Mode, target)
		}
		if got != w || ino.UID != 0 || ino.GID != 0 {
			t.Errorf("/dev/%s: %s owner %d:%d, want %s owner 0:0", name, got, ino.UID, ino.GID, w)
		}
		for _, tm := range []time.Time{ino.Atime, ino.Mtime, ino.Ctime} {
			if tm.Unix() != epoch {
				t.Errorf("/dev/%s: time %v, want the epoch", name, tm)
			}
		}
	}
}
