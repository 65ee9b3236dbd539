package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// devEntry is one entry of an image's /dev.
type devEntry struct {
	name         string
	kind         byte // 'c' character device, 'd' directory, 'l' symlink
	perm         int
	major, minor int
	target       string // of a symlink
}

// devEntries is /dev in every image: what mmdebstrap writes into its
// tarballs and ext2 images in root and unshare mode alike, root-owned.
// The kernel mounts devtmpfs over it at boot; these serve a chroot into
// the image or an init that starts without devtmpfs. They are written
// into the filesystem by debugfs, not made in the tree with mknod,
// which root of a user namespace may not do: a rootless build packs the
// same bytes.
var devEntries = []devEntry{
	{name: "console", kind: 'c', perm: 0o666, major: 5, minor: 1},
	{name: "fd", kind: 'l', target: "/proc/self/fd"},
	{name: "full", kind: 'c', perm: 0o666, major: 1, minor: 7},
	{name: "null", kind: 'c', perm: 0o666, major: 1, minor: 3},
	{name: "ptmx", kind: 'c', perm: 0o666, major: 5, minor: 2},
	{name: "pts", kind: 'd', perm: 0o755},
	{name: "random", kind: 'c', perm: 0o666, major: 1, minor: 8},
	{name: "shm", kind: 'd', perm: 0o755},
	{name: "stderr", kind: 'l', target: "/proc/self/fd/2"},
	{name: "stdin", kind: 'l', target: "/proc/self/fd/0"},
	{name: "stdout", kind: 'l', target: "/proc/self/fd/1"},
	{name: "tty", kind: 'c', perm: 0o666, major: 5, minor: 0},
	{name: "urandom", kind: 'c', perm: 0o666, major: 1, minor: 9},
	{name: "zero", kind: 'c', perm: 0o666, major: 1, minor: 5},
}

// emptyDev leaves root/dev an empty root-owned directory, as mmdebstrap
// leaves ./dev out of its tarballs: what packages, base tarballs or
// scripts put there differs between root and rootless builds (only root
// can mknod) and is replaced by devEntries. A /dev that is still a mount
// point is refused: removing below it would remove the host's devices.
func emptyDev(root string) error {
	dev := filepath.Join(root, "dev")
	var st, parent unix.Stat_t
	if err := unix.Lstat(dev, &st); err != nil {
		if os.IsNotExist(err) {
			return os.Mkdir(dev, 0o755)
		}
		return &os.PathError{Op: "lstat", Path: dev, Err: err}
	}
	if err := unix.Stat(root, &parent); err != nil {
		return &os.PathError{Op: "stat", Path: root, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a directory", dev)
	}
	if st.Dev != parent.Dev {
		return fmt.Errorf("not emptying %s: it is a mount point", dev)
	}
	entries, err := os.ReadDir(dev)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dev, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// devScript is the debugfs script that writes devEntries into an image
// whose /dev is empty, every time set to epoch. It works in /dev by
// plain names: debugfs's mknod takes its whole argument as the name.
func devScript(epoch int64) string {
	var b strings.Builder
	set := func(name string, mode int) {
		if mode != 0 {
			fmt.Fprintf(&b, "sif %s mode 0%o\n", name, mode)
		}
		fmt.Fprintf(&b, "sif %s uid 0\nsif %s gid 0\n", name, name)
		for _, f := range []string{"atime", "mtime", "ctime", "crtime"} {
			fmt.Fprintf(&b, "sif %s %s 0x%x\n", name, f, epoch)
		}
	}
	b.WriteString("cd /dev\n")
	for _, e := range devEntries {
		switch e.kind {
		case 'c':
			fmt.Fprintf(&b, "mknod %s c %d %d\n", e.name, e.major, e.minor)
			set(e.name, unix.S_IFCHR|e.perm)
		case 'd':
			fmt.Fprintf(&b, "mkdir %s\n", e.name)
			set(e.name, unix.S_IFDIR|e.perm)
		case 'l':
			fmt.Fprintf(&b, "symlink %s %s\n", e.name, e.target)
			set(e.name, 0)
		}
	}
	set(".", unix.S_IFDIR|0o755) // the new entries changed /dev
	return b.String()
}
