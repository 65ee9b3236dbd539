package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Entry is one item of a package's data archive.
type Entry struct {
	// Path is the name as dpkg lists it in /var/lib/dpkg/info/<pkg>.list:
	// "/." for the root, else "/usr/bin/foo".
	Path   string
	Header *tar.Header // type, mode, owner, link target, device, mtime
}

// ExtractOptions tune ExtractData.
type ExtractOptions struct {
	// Unprivileged skips chown and block/character device nodes even when
	// running as root. Without root they are always skipped. Skipped
	// ownership and devices remain in the returned entries, for a packer
	// that writes them into an image.
	Unprivileged bool
	// NoDevices skips block and character device nodes (they remain in
	// the returned entries) while ownership is still applied: an image
	// builder that makes its own /dev, and would fail to mknod as root of
	// a user namespace.
	NoDevices bool
}

// ExtractData unpacks the package's data archive into dest as ExtractTar
// does.
func (d *Deb) ExtractData(ctx context.Context, dest string, opt ExtractOptions) ([]Entry, error) {
	tr, closer, err := d.open(d.data)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return ExtractTar(ctx, tr, dest, d.name+": "+d.data.name, opt)
}

// ExtractTar unpacks a tar stream into dest with modes, ownership (when
// privileged), extended attributes (PAX SCHILY.xattr records, when
// privileged), symlinks, hardlinks, device nodes (when privileged), fifos
// and mtimes, and returns its entries in archive order. Names that are
// absolute or contain "..", and writes through symlinks leading out of
// dest, fail with ErrUnsafePath. Symlinks inside dest are followed (a
// merged-/usr tree's /bin -> usr/bin); an existing non-directory is
// replaced, as dpkg does. name (the archive's file or URL) labels errors.
func ExtractTar(ctx context.Context, tr *tar.Reader, dest, name string, opt ExtractOptions) ([]Entry, error) {
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("extract %s: %w", name, err)
	}
	defer root.Close()
	priv := os.Geteuid() == 0 && !opt.Unprivileged
	x := &extractor{root: root, priv: priv, devices: priv && !opt.NoDevices, made: map[string]bool{}}
	var entries []Entry
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		clean, err := safeName(h.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if sparse(h) {
			return nil, fmt.Errorf("%s: %s: sparse files are not supported: %w", name, h.Name, ErrFormat)
		}
		if err := x.entry(clean, h, tr); err != nil {
			if isEscape(err) {
				err = fmt.Errorf("%w: %v", ErrUnsafePath, err)
			}
			return nil, fmt.Errorf("%s: %s: %w", name, h.Name, err)
		}
		listed := "/" + clean
		if clean == "." {
			listed = "/."
		}
		entries = append(entries, Entry{Path: listed, Header: h})
	}
	if err := x.finishDirs(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return entries, nil
}

// sparse reports a PAX-format GNU sparse file (the old GNU 'S' type is
// refused as an unknown type). Nothing we unpack uses them (dpkg-deb does
// not), and the reader would fill its holes with zeros: a 10 KB archive
// could declare a file of any size and fill the disk.
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// isEscape recognizes os.Root refusing a path that leaves the root through
// a symlink; os does not export that error, only its text.
func isEscape(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "path escapes from parent" {
			return true
		}
	}
	return false
}

// safeName turns an archive name into a clean path relative to the
// destination, "." for the root.
func safeName(name string) (string, error) {
	n := strings.TrimPrefix(name, "./")
	if strings.HasPrefix(n, "/") || slices.Contains(strings.Split(n, "/"), "..") {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	return path.Clean("./" + n), nil
}

type extractor struct {
	root    *os.Root
	priv    bool            // chown, xattrs
	devices bool            // mknod block and character devices
	dirs    []dirMeta       // applied last: children change mtimes, modes may forbid writes
	made    map[string]bool // directories known to exist: entries never remove one
}

type dirMeta struct {
	name string
	h    *tar.Header
}

func (x *extractor) entry(name string, h *tar.Header, body io.Reader) error {
	if h.Typeflag == tar.TypeDir {
		return x.dir(name, h)
	}
	if name == "." {
		return fmt.Errorf("non-directory at the root: %w", ErrFormat)
	}
	if parent := path.Dir(name); !x.made[parent] {
		if err := x.root.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		x.made[parent] = true
	}
	if err := x.clear(name); err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeReg:
		f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if err == nil {
			err = x.fileMeta(f, h)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case tar.TypeLink:
		target, err := safeName(h.Linkname)
		if err != nil {
			return err
		}
		return x.root.Link(target, name)
	case tar.TypeSymlink:
		if err := x.root.Symlink(h.Linkname, name); err != nil {
			return err
		}
		if x.priv {
			if err := x.root.Lchown(name, h.Uid, h.Gid); err != nil {
				return err
			}
		}
		return x.inParent(name, func(dirfd int, base string) error {
			ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
			return unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
		})
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
		if kind != unix.S_IFIFO && !x.devices {
			return nil // recorded in the entry list only
		}
		dev := unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		if err := x.inParent(name, func(dirfd int, base string) error {
			return unix.Mknodat(dirfd, base, kind|0o600, int(dev))
		}); err != nil {
			return err
		}
		return x.meta(name, h)
	}
	return fmt.Errorf("unsupported entry type %q: %w", h.Typeflag, ErrFormat)
}

// dir creates a directory, keeping an existing directory or symlink to
// one (dpkg keeps a merged-/usr /bin -> usr/bin link likewise).
func (x *extractor) dir(name string, h *tar.Header) error {
	if name == "." {
		return nil // dest itself belongs to the caller
	}
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := x.root.MkdirAll(name, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		if st, err := x.root.Stat(name); err != nil || !st.IsDir() {
			return fmt.Errorf("existing symlink is not a directory: %w", fs.ErrExist)
		}
		return nil
	case !fi.IsDir():
		return fmt.Errorf("existing non-directory in the way: %w", fs.ErrExist)
	}
	x.dirs = append(x.dirs, dirMeta{name, h})
	return nil
}

// clear removes an existing non-directory at name so the new entry
// replaces it instead of writing through it.
func (x *extractor) clear(name string) error {
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("existing directory in the way: %w", fs.ErrExist)
	}
	return x.root.Remove(name)
}

// meta applies owner, mode, extended attributes and mtime to a
// non-symlink. chown comes first: it clears set-id bits; chmod comes
// before the attributes: it would clear a security.capability set earlier.
func (x *extractor) meta(name string, h *tar.Header) error {
	if x.priv {
		if err := x.root.Lchown(name, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if err := x.root.Chmod(name, mode(h)); err != nil {
		return err
	}
	err := x.xattrs(h, func(attr string, v []byte) error {
		return x.inParent(name, func(dirfd int, base string) error {
			return unix.Lsetxattr(fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, base), attr, v, 0)
		})
	})
	if err != nil {
		return err
	}
	return x.root.Chtimes(name, h.ModTime, h.ModTime)
}

// fileMeta is meta for a regular file just written, through its
// descriptor: the most common entry skips four path walks in the root.
func (x *extractor) fileMeta(f *os.File, h *tar.Header) error {
	if x.priv {
		if err := f.Chown(h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if err := f.Chmod(mode(h)); err != nil {
		return err
	}
	fd := int(f.Fd())
	if err := x.xattrs(h, func(attr string, v []byte) error { return unix.Fsetxattr(fd, attr, v, 0) }); err != nil {
		return err
	}
	ts := unix.NsecToTimespec(h.ModTime.UnixNano())
	return os.NewSyscallError("futimens", futimens(fd, &[2]unix.Timespec{ts, ts}))
}

// futimens sets a descriptor's access and modification times
// (utimensat with no path, which x/sys/unix does not wrap).
func futimens(fd int, ts *[2]unix.Timespec) error {
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0); e != 0 {
		return e
	}
	return nil
}

// mode is the permission and set-id bits an entry asks for.
func mode(h *tar.Header) fs.FileMode {
	return h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// xattrPrefix marks extended attributes in PAX records (GNU tar --xattrs,
// as Gentoo's stage3 tarballs carry file capabilities).
const xattrPrefix = "SCHILY.xattr."

// xattrs sets the entry's extended attributes with set. Only root may set
// security.* and trusted.*, so they are skipped unprivileged; a user.*
// attribute the destination filesystem cannot hold (tmpfs before Linux
// 6.6) is dropped, as tar does.
func (x *extractor) xattrs(h *tar.Header, set func(attr string, v []byte) error) error {
	if !x.priv {
		return nil
	}
	for k, v := range h.PAXRecords {
		attr, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		err := set(attr, []byte(v))
		if err != nil && !(strings.HasPrefix(attr, "user.") && errors.Is(err, unix.EOPNOTSUPP)) {
			return fmt.Errorf("xattr %s: %w", attr, err)
		}
	}
	return nil
}

func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		if err := x.meta(x.dirs[i].name, x.dirs[i].h); err != nil {
			return err
		}
	}
	return nil
}

// inParent runs fn on the directory holding name, opened inside the root,
// for the *at system calls os.Root does not wrap.
func (x *extractor) inParent(name string, fn func(dirfd int, base string) error) error {
	dir, err := x.root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := fn(int(dir.Fd()), path.Base(name)); err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	return nil
}
