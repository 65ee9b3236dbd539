//go:build linux

package ext4

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// makeTree builds a tree with every kind of file and metadata an export
// must keep: owners, modes with set-id and sticky bits, nanosecond times,
// extended attributes (user, trusted, security, a POSIX ACL), hard links,
// short and long symbolic links, device nodes, a FIFO, a socket, an empty
// file, a sparse file and files spanning many blocks. It needs root.
func makeTree(t *testing.T) string {
	t.Helper()
	testutil.Require(t, os.Geteuid() == 0, "building device nodes and foreign owners needs root")
	root := filepath.Join(t.TempDir(), "tree")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mk := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(root, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, data, mode))
		must(os.Chmod(p, mode)) // beyond the umask, set-id bits included
		return p
	}
	rng := rand.New(rand.NewSource(11))
	random := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	mk("etc/hostname", []byte("colinux\n"), 0o644)
	mk("usr/bin/tool", random(300_000), 0o4755)
	mk("usr/lib/big.bin", random(3<<20+77), 0o644)
	mk("empty", nil, 0o600)
	must(os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "usr/bin/tool-again")))
	must(os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "etc/tool-link")))
	must(os.Symlink("../usr/bin/tool", filepath.Join(root, "etc/short-link")))
	must(os.Symlink(strings.Repeat("long/", 30)+"target", filepath.Join(root, "etc/long-link")))
	must(os.Mkdir(filepath.Join(root, "dev"), 0o755))
	must(unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(root, "dev/sda9"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 9))))
	must(unix.Mknod(filepath.Join(root, "dev/big-minor"), unix.S_IFCHR|0o600, int(unix.Mkdev(250, 70000))))
	must(unix.Mkfifo(filepath.Join(root, "dev/fifo"), 0o640))
	must(os.Mkdir(filepath.Join(root, "tmp"), 0o1777))
	must(os.Chmod(filepath.Join(root, "tmp"), 0o1777))
	// A sparse file: 12 MiB with two islands of data.
	sparse := mk("var/sparse.img", nil, 0o644)
	f, err := os.OpenFile(sparse, os.O_WRONLY, 0)
	must(err)
	f.WriteAt([]byte("island one"), 5<<20)
	f.WriteAt(random(9000), 9<<20)
	must(f.Truncate(12 << 20))
	f.Close()
	// A file of holes only, and one far larger than the filesystem, like
	// /var/log/lastlog once a high user id has logged in.
	must(os.Truncate(mk("var/holes", nil, 0o644), 5<<20))
	f, err = os.OpenFile(mk("var/log/lastlog", nil, 0o664), os.O_WRONLY, 0)
	must(err)
	f.WriteAt([]byte("pts/0"), 64<<20-292)
	f.Close()
	// A sparse file under a name longer than a tar header holds, with a
	// second name.
	f, err = os.OpenFile(mk(longSparse, nil, 0o600), os.O_WRONLY, 0)
	must(err)
	f.WriteAt([]byte("deep"), 3<<20)
	f.Close()
	must(os.Link(filepath.Join(root, longSparse), filepath.Join(root, "var/sparse-link")))
	// Many files in one directory, so that it is hashed (htree).
	for i := range 400 {
		mk(fmt.Sprintf("many/file-%03d", i), []byte(fmt.Sprint(i)), 0o644)
	}
	owned := mk("home/user/notes", []byte("mine"), 0o640)
	must(os.Lchown(owned, 1234, 5678))
	must(os.Lchown(filepath.Join(root, "home/user"), 1234, 5678))
	must(os.Lchown(filepath.Join(root, "etc/short-link"), 42, 43))
	must(unix.Setxattr(owned, "user.comment", []byte("exported"), 0))
	must(unix.Setxattr(owned, "trusted.md5", []byte{0, 1, 2, 0, 255}, 0))
	must(unix.Setxattr(filepath.Join(root, "usr/bin/tool"), "security.capability", capability(), 0))
	must(unix.Setxattr(filepath.Join(root, "home/user"), "system.posix_acl_access", acl(), 0))
	must(unix.Setxattr(filepath.Join(root, "home/user"), "system.posix_acl_default", acl(), 0))
	must(unix.Setxattr(filepath.Join(root, "usr/lib/big.bin"), "user.big", bytes.Repeat([]byte("x"), 700), 0))
	// Times last, with nanoseconds, directories after their contents.
	stamp := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for i, p := range paths {
		ts := []unix.Timespec{unix.NsecToTimespec(stamp.UnixNano() + int64(i)*1001), unix.NsecToTimespec(stamp.UnixNano() - int64(i)*7777)}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	return root
}

// longSparse is the path of a sparse file whose name needs a PAX record.
var longSparse = "var/" + strings.Repeat("deep/", 25) + "sparse"

// capability is a security.capability value granting cap_net_raw.
func capability() []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b, 0x02000001) // VFS_CAP_REVISION_2, effective
	binary.LittleEndian.PutUint32(b[4:], 1<<13)  // permitted: CAP_NET_RAW
	return b
}

// acl is a POSIX ACL in its attribute form: user::rwx user:1001:r-x
// group::r-x mask::r-x other::---.
func acl() []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 2)
	for _, e := range [][3]uint32{{1, 7, 0xffffffff}, {2, 5, 1001}, {4, 5, 0xffffffff}, {0x10, 5, 0xffffffff}, {0x20, 0, 0xffffffff}} {
		b = le.AppendUint16(b, uint16(e[0]))
		b = le.AppendUint16(b, uint16(e[1]))
		b = le.AppendUint32(b, e[2])
	}
	return b
}

// mkfs packs a tree into a filesystem image with mke2fs -d.
func mkfs(t *testing.T, tree string, args ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	args = append(append([]string{"-q", "-F"}, args...), "-d", tree, img, "48M")
	testutil.Run(t, "mke2fs", args...)
	return img
}

// exportTar opens a filesystem image with this package and writes its tar.
func exportTar(t *testing.T, img string) (string, []string) {
	t.Helper()
	fsys := openImage(t, img)
	out := filepath.Join(t.TempDir(), "tree.tar")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var warnings []string
	if err := WriteTar(context.Background(), w, fsys, TarOptions{Warn: func(s string) { warnings = append(warnings, s) }}); err != nil {
		t.Fatal(err)
	}
	return out, warnings
}

// TestTarKeepsTree exports filesystems of every flavour mke2fs makes,
// extracts each tar with GNU tar and compares the tree with the one the
// filesystem was made from; then packs the extracted tree again and
// checks that filesystem with e2fsck.
func TestTarKeepsTree(t *testing.T) {
	tree := makeTree(t)
	// The socket is made last: mke2fs -d copies it, the tar leaves it out.
	l, err := netListenUnix(filepath.Join(tree, "tmp/socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		name string
		args []string
		skip []string // paths mke2fs itself gets wrong
	}{
		{"ext4", []string{"-t", "ext4"}, nil},
		{"ext4-1k-blocks", []string{"-t", "ext4", "-b", "1024"}, nil},
		// mke2fs 1.47.0 with inline_data drops a file's trailing hole.
		{"ext4-inline-data", []string{"-t", "ext4", "-O", "inline_data"}, []string{"var/sparse.img"}},
		{"ext4-128-byte-inodes", []string{"-t", "ext4", "-I", "128"}, nil},
		{"ext4-no-64bit-meta-bg", []string{"-t", "ext4", "-O", "^64bit,^resize_inode,meta_bg"}, nil},
		{"ext3", []string{"-t", "ext3"}, nil},
		{"ext2", []string{"-t", "ext2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mkfs(t, tree, tc.args...)
			testutil.Run(t, "e2fsck", "-fn", img)
			out, warnings := exportTar(t, img)
			if len(warnings) != 1 || !strings.Contains(warnings[0], "tmp/socket") {
				t.Errorf("warnings %q, want one about the socket", warnings)
			}
			got := filepath.Join(t.TempDir(), "x")
			if err := os.Mkdir(got, 0o755); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, "tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", out, "-C", got)
			compareTrees(t, tree, got, tc.skip...)
			checkSparse(t, tree, got, out, tc.skip)
			// Pack the extracted tree again: a filesystem e2fsck finds clean.
			testutil.Run(t, "e2fsck", "-fn", mkfs(t, got, "-t", "ext4"))
		})
	}
}

// entryInfo is what the comparison looks at for one path.
type entryInfo struct {
	mode     uint32
	uid, gid uint32
	rdev     uint64
	size     int64
	mtime    int64
	sum      [32]byte
	target   string
	xattrs   string
	linkKey  string // the first path of the inode, for hard links
}

func describeTree(t *testing.T, root string) map[string]entryInfo {
	t.Helper()
	out := map[string]entryInfo{}
	firstOf := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			return nil // a tar cannot hold sockets
		}
		if rel == "lost+found" {
			return filepath.SkipDir // mke2fs makes it
		}
		// mke2fs -d keeps whole seconds; TestTarNanoseconds checks the rest.
		e := entryInfo{mode: st.Mode, uid: st.Uid, gid: st.Gid, rdev: st.Rdev, mtime: st.Mtim.Sec}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.size, e.sum = int64(len(b)), sha256.Sum256(b)
			if st.Nlink > 1 {
				if _, ok := firstOf[st.Ino]; !ok {
					firstOf[st.Ino] = rel
				}
				e.linkKey = firstOf[st.Ino]
			}
		case unix.S_IFLNK:
			e.target, _ = os.Readlink(p)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			e.rdev = st.Rdev
		} else {
			e.rdev = 0
		}
		e.xattrs = listXattrs(t, p)
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func listXattrs(t *testing.T, p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "error: " + err.Error()
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var s strings.Builder
	for _, name := range names {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			fmt.Fprintf(&s, "%s=error %v;", name, err)
			continue
		}
		fmt.Fprintf(&s, "%s=%x;", name, v[:m])
	}
	return s.String()
}

// compareTrees compares two trees, but for the root's time (mke2fs sets
// it when it adds lost+found) and the paths skip.
func compareTrees(t *testing.T, want, got string, skip ...string) {
	t.Helper()
	a, b := describeTree(t, want), describeTree(t, got)
	for _, p := range skip {
		delete(a, p)
		delete(b, p)
	}
	for _, m := range []map[string]entryInfo{a, b} {
		e := m["."]
		e.mtime = 0
		m["."] = e
	}
	for p, x := range a {
		y, ok := b[p]
		if !ok {
			t.Errorf("%s is missing", p)
			continue
		}
		if x.mode&unix.S_IFMT == unix.S_IFLNK {
			x.mtime, y.mtime = 0, 0 // GNU tar does not set a link's times
		}
		if x != y {
			t.Errorf("%s differs:\n want %+v\n got  %+v", p, x, y)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s is extra", p)
		}
	}
}

// checkSparse: the sparse files stay sparse through the tar and GNU tar's
// and bsdtar's extraction, the tar holds their data only, and Go's
// archive/tar (what podman and docker import read tars with) reads them
// whole.
func checkSparse(t *testing.T, tree, got, tarPath string, skip []string) {
	t.Helper()
	sparse := map[string]bool{"var/sparse.img": true, "var/holes": true, "var/log/lastlog": true, longSparse: true}
	for _, p := range skip {
		delete(sparse, p)
	}
	// And bsdtar (libarchive).
	bsd := t.TempDir()
	testutil.Run(t, "bsdtar", "-xpf", tarPath, "-C", bsd)
	for p := range sparse {
		for _, dir := range []string{got, bsd} {
			if n := testutil.AllocatedBytes(t, filepath.Join(dir, p)); n > 64<<10 {
				t.Errorf("%s takes %d bytes on disk after extraction into %s, not sparse", p, n, dir)
			}
		}
		a, _ := os.ReadFile(filepath.Join(tree, p))
		if b, err := os.ReadFile(filepath.Join(bsd, p)); err != nil || !bytes.Equal(a, b) {
			t.Errorf("bsdtar extracts %s differently (%v)", p, err)
		}
	}
	if fi, err := os.Stat(tarPath); err != nil || fi.Size() > 8<<20 {
		t.Errorf("the tar is %d bytes (%v): holes stored as zeros", fi.Size(), err)
	}
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("Go's archive/tar: %v", err)
		}
		p := strings.TrimPrefix(h.Name, "./")
		if !sparse[p] {
			continue
		}
		delete(sparse, p)
		want, err := os.Stat(filepath.Join(tree, p))
		if err != nil {
			t.Fatal(err)
		}
		if h.Size != want.Size() {
			t.Errorf("Go's archive/tar reads %s as %d bytes, want %d", p, h.Size, want.Size())
		}
		if p == "var/sparse.img" {
			b, err := io.ReadAll(tr)
			if orig, _ := os.ReadFile(filepath.Join(tree, p)); err != nil || !bytes.Equal(b, orig) {
				t.Errorf("Go's archive/tar reads %s differently (%v)", p, err)
			}
		}
		if len(sparse) == 0 {
			return
		}
	}
}

func netListenUnix(path string) (interface{ Close() error }, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return closer(fd), nil
}

type closer int

func (c closer) Close() error { return syscall.Close(int(c)) }

// TestTarNanoseconds: times keep their nanoseconds and the epoch bits of
// the extra fields (mke2fs -d writes whole seconds, so debugfs sets them).
func TestTarNanoseconds(t *testing.T) {
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := mkfs(t, tree, "-t", "ext4")
	const nsec = 987654321
	// 2040-01-01 needs an epoch bit: seconds past 2^31.
	debugfs(t, img, "sif /f mtime 0x83aa7e80", fmt.Sprintf("sif /f mtime_extra %#x", nsec<<2|1))
	out, _ := exportTar(t, img)
	got := t.TempDir()
	testutil.Run(t, "tar", "-xpf", out, "-C", got)
	fi, err := os.Stat(filepath.Join(got, "f"))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Unix(0x83aa7e80, nsec) // the low 32 bits signed, plus 2^32 from the epoch bit
	if !fi.ModTime().Equal(want) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), want)
	}
}

// TestTarEAInode: attribute values too large for an inode or attribute
// block live in inodes of their own (ea_inode), shared between files
// with equal values; the tar carries them whole. Values past 4 KiB need
// a filesystem that takes them on both sides, so the trees sit in tmpfs.
func TestTarEAInode(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "ext4-ea-inode-")
	testutil.Require(t, err == nil, "no tmpfs at /dev/shm for attribute values past 4 KiB")
	t.Cleanup(func() { os.RemoveAll(shm) })
	tree := filepath.Join(shm, "tree")
	rng := rand.New(rand.NewSource(4))
	big := make([]byte, 60000)
	rng.Read(big)
	if err := os.MkdirAll(filepath.Join(tree, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b", "d/c"} {
		p := filepath.Join(tree, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		err := unix.Setxattr(p, "user.big", big, 0) // one value inode, shared by three files
		testutil.Require(t, err == nil, fmt.Sprintf("tmpfs takes no large user attributes: %v", err))
		own := make([]byte, 5000+i*3000)
		rng.Read(own)
		if err := unix.Setxattr(p, "user.own", own, 0); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(p, "user.small", []byte(name), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Setxattr(filepath.Join(tree, "d"), "trusted.dir", big[:9000], 0); err != nil {
		t.Fatal(err)
	}
	img := mkfs(t, tree, "-t", "ext4", "-O", "ea_inode")
	// mke2fs 1.47.0 leaves the owners' block counts short of the value
	// inodes' blocks; e2fsck -fy fixes that (exit status 1), and the
	// filesystem is clean after.
	if out, err := exec.Command("e2fsck", "-fy", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("e2fsck -fy: %v\n%s", err, out)
		}
	}
	testutil.Run(t, "e2fsck", "-fn", img)
	sizes := eaInodeSizes(t, img)
	if vals := slices.Collect(maps.Values(sizes)); !slices.Contains(vals, 60000) || !slices.Contains(vals, 11000) {
		t.Fatalf("value inodes of %v bytes; the fixture wants the large values in inodes of their own", sizes)
	}
	out, _ := exportTar(t, img)
	got := filepath.Join(shm, "got")
	if err := os.Mkdir(got, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", out, "-C", got)
	compareTrees(t, tree, got)
	if x := listXattrs(t, filepath.Join(got, "d/c")); !strings.Contains(x, fmt.Sprintf("user.big=%x;", big)) {
		t.Errorf("d/c lost its 60000-byte attribute: %.200s", x)
	}
	// A value inode without its flag, or of another size, is refused.
	for n, size := range sizes {
		if size != 60000 {
			continue
		}
		for _, damage := range []string{fmt.Sprintf("sif <%d> flags 0x80000", n), fmt.Sprintf("sif <%d> size 59999", n)} {
			bad := filepath.Join(t.TempDir(), "bad.img")
			if err := os.WriteFile(bad, readAll(t, img), 0o644); err != nil {
				t.Fatal(err)
			}
			debugfs(t, bad, damage)
			if _, err := tarOf(bad); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), fmt.Sprintf("attribute value inode %d is not one", n)) {
				t.Errorf("%s: got %v", damage, err)
			}
		}
	}
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eaInodeSizes returns the sizes of the inodes holding attribute values.
func eaInodeSizes(t *testing.T, img string) map[uint32]int64 {
	t.Helper()
	fsys := openImage(t, img)
	sizes := map[uint32]int64{}
	for n := uint32(rootInode + 1); n <= fsys.inodes; n++ {
		if ino, err := fsys.Inode(n); err == nil && ino.flags&flagEAInode != 0 && ino.Links > 0 {
			sizes[n] = ino.Size
		}
	}
	return sizes
}
