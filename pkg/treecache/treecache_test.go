package treecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// orderedDir is a scratch directory on a filesystem that lists entries in
// creation order or its reverse (tmpfs), as the build's default workdir.
func orderedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "treecache-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := probeOrder(dir); err != nil {
		t.Skipf("%v", err)
	}
	return dir
}

// sampleTree makes every kind of entry the cache must keep, created out of
// alphabetical order.
func sampleTree(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	must(os.Symlink("usr/bin", filepath.Join(root, "bin")))
	for _, n := range []string{"zsh", "cat", "mv"} {
		must(os.WriteFile(filepath.Join(root, "usr/bin", n), []byte("program "+n), 0o755))
	}
	must(os.Link(filepath.Join(root, "usr/bin/mv"), filepath.Join(root, "usr/bin/move")))
	must(os.Chmod(filepath.Join(root, "usr/bin/cat"), 0o4755))
	must(os.Lchown(filepath.Join(root, "usr/bin/cat"), 0, 5))
	must(os.Chmod(filepath.Join(root, "usr/bin/cat"), 0o4755)) // chown cleared set-uid
	must(unix.Setxattr(filepath.Join(root, "usr/bin/zsh"), "user.colinux", []byte("kept"), 0))
	must(unix.Mkfifo(filepath.Join(root, "fifo"), 0o600))
	must(os.MkdirAll(filepath.Join(root, "empty"), 0o700))
	stamp := time.Unix(1700000000, 123456789)
	must(os.Chtimes(filepath.Join(root, "usr/bin/zsh"), stamp, stamp))
	must(os.Chtimes(filepath.Join(root, "usr"), stamp, stamp))
}

// describe lists a tree in the order the filesystem does, with everything
// the cache promises to keep.
func describe(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	var walk func(rel string)
	walk = func(rel string) {
		names, err := listDir(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			p := filepath.Join(rel, n)
			full := filepath.Join(root, p)
			var st unix.Stat_t
			if err := unix.Lstat(full, &st); err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("%s mode=%o uid=%d gid=%d nlink=%d mtime=%d.%09d size=%d",
				p, st.Mode, st.Uid, st.Gid, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec, st.Size)
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				data, _ := os.ReadFile(full)
				x, _ := readXattrs(full)
				line += fmt.Sprintf(" data=%q xattrs=%v", data, x)
			case unix.S_IFLNK:
				target, _ := os.Readlink(full)
				line += " -> " + target
			}
			out = append(out, line)
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				walk(p)
			}
		}
	}
	walk("")
	return out
}

func TestSaveRestoreKeepsEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("owners and set-uid bits need root")
	}
	dir := orderedDir(t)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.Mkdir(src, 0o755)
	os.Mkdir(dst, 0o755)
	sampleTree(t, src)
	c := Cache{Dir: filepath.Join(dir, "cache")}
	ctx := context.Background()
	if ok, err := c.Restore(ctx, "k", dst); ok || err != nil {
		t.Fatalf("restore before save: %v, %v", ok, err)
	}
	if err := c.Save(ctx, "k", src); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Restore(ctx, "k", dst); !ok || err != nil {
		t.Fatalf("restore: %v, %v", ok, err)
	}
	want, got := describe(t, src), describe(t, dst)
	if !slices.Equal(got, want) {
		t.Fatalf("restored tree differs\n got %q\nwant %q", got, want)
	}
}

func TestRestoreRejectsCorruptTree(t *testing.T) {
	dir := orderedDir(t)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("colinux\n"), 0o644)
	os.Mkdir(dst, 0o755)
	c := Cache{Dir: filepath.Join(dir, "cache")}
	ctx := context.Background()
	if err := c.Save(ctx, "k", src); err != nil {
		t.Fatal(err)
	}
	tarFile := c.tarPath("k")
	data, _ := os.ReadFile(tarFile)
	data[bytes.Index(data, []byte("colinux"))] ^= 0x20 // the file's content, not a header
	os.WriteFile(tarFile, data, 0o644)
	ok, err := c.Restore(ctx, "k", dst)
	if ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("restore of a corrupt tree: %v, %v; want ErrCorrupt", ok, err)
	}
	if _, err := os.Stat(tarFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("corrupt tree left in the cache: %v", err)
	}
}

func TestSaveKeepsRecentlyUsed(t *testing.T) {
	dir := orderedDir(t)
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	c := Cache{Dir: filepath.Join(dir, "cache"), Keep: 2}
	ctx := context.Background()
	save := func(key string, age time.Duration) {
		t.Helper()
		if err := c.Save(ctx, key, src); err != nil {
			t.Fatal(err)
		}
		used := time.Now().Add(-age)
		os.Chtimes(c.tarPath(key), used, used)
	}
	save("a", time.Minute)
	save("b", time.Hour) // the least recently used when c arrives
	save("c", 0)
	got, _ := filepath.Glob(filepath.Join(c.Dir, "*"))
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	want := []string{"a.sha256", "a.tar", "c.sha256", "c.tar"}
	if !slices.Equal(got, want) {
		t.Fatalf("cache holds %v, want %v", got, want)
	}
}

func TestSaveRefusesUnorderedFilesystem(t *testing.T) {
	dir := t.TempDir()
	if _, err := probeOrder(dir); err == nil {
		t.Skipf("%s lists entries in creation order", dir)
	}
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	if err := (Cache{Dir: filepath.Join(dir, "cache")}).Save(context.Background(), "k", src); !errors.Is(err, ErrOrder) {
		t.Fatalf("save on %s: %v, want ErrOrder", dir, err)
	}
}
