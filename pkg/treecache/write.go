package treecache

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// treeWriter writes a tree as a PAX tar, each directory's entries in the
// order they were created, parents before children, so that extracting
// the archive creates every entry in its original order.
type treeWriter struct {
	tw          *tar.Writer
	root        string
	newestFirst bool                 // the filesystem lists the newest entry first
	links       map[[2]uint64]string // (device, inode) → first name, for hard links
}

func writeTree(ctx context.Context, tw *tar.Writer, root string, newestFirst bool) error {
	w := &treeWriter{tw: tw, root: root, newestFirst: newestFirst, links: map[[2]uint64]string{}}
	if err := w.dir(ctx, ""); err != nil {
		return err
	}
	return tw.Close()
}

func (w *treeWriter) dir(ctx context.Context, rel string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	names, err := listDir(filepath.Join(w.root, rel))
	if err != nil {
		return err
	}
	if w.newestFirst {
		slices.Reverse(names)
	}
	for _, n := range names {
		name := path.Join(rel, n)
		isDir, err := w.entry(name)
		if err != nil {
			return err
		}
		if isDir {
			if err := w.dir(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry writes one entry and reports whether it is a directory to descend.
func (w *treeWriter) entry(name string) (bool, error) {
	full := filepath.Join(w.root, name)
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: full, Err: err}
	}
	h := &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Format: tar.FormatPAX,
	}
	var body *os.File
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case unix.S_IFREG:
		id := [2]uint64{st.Dev, st.Ino}
		if first, ok := w.links[id]; ok {
			h.Typeflag, h.Linkname = tar.TypeLink, first
			break
		}
		if st.Nlink > 1 {
			w.links[id] = name
		}
		f, err := os.Open(full)
		if err != nil {
			return false, err
		}
		defer f.Close()
		h.Typeflag, h.Size, body = tar.TypeReg, st.Size, f
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return false, err
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		return false, fmt.Errorf("%s: a socket cannot be saved", full)
	}
	if h.Typeflag != tar.TypeLink {
		xattrs, err := readXattrs(full)
		if err != nil {
			return false, err
		}
		for k, v := range xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return false, fmt.Errorf("%s: %w", full, err)
	}
	if body != nil {
		if n, err := io.Copy(w.tw, body); err != nil || n != h.Size {
			return false, fmt.Errorf("%s: changed while being saved (%d of %d bytes): %v", full, n, h.Size, err)
		}
	}
	return h.Typeflag == tar.TypeDir, nil
}

// readXattrs returns an entry's extended attributes (file capabilities,
// ACLs), not following a symlink.
func readXattrs(name string) (map[string]string, error) {
	size, err := unix.Llistxattr(name, nil)
	if err != nil || size == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, size)
	if size, err = unix.Llistxattr(name, buf); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, attr := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		n, err := unix.Lgetxattr(name, attr, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: xattr %s: %w", name, attr, err)
		}
		val := make([]byte, n)
		if n, err = unix.Lgetxattr(name, attr, val); err != nil {
			return nil, fmt.Errorf("%s: xattr %s: %w", name, attr, err)
		}
		out[attr] = string(val[:n])
	}
	return out, nil
}
