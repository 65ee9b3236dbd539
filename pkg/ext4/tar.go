package ext4

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"sort"
)

// TarOptions control WriteTar.
type TarOptions struct {
	// Warn is told of what a tar cannot hold (sockets), which is left out.
	Warn func(string)
	// Progress, when set, is called with the bytes of file data written.
	Progress func(int64)
}

// WriteTar writes the filesystem's tree to w as a PAX tar, as
// `tar --xattrs --numeric-owner -C root -cf - .` would: "./" first, then
// depth first with each directory's entries sorted by name. Owners and
// modes are numeric, times keep their nanoseconds, extended attributes
// (ACLs and file capabilities included) go into SCHILY.xattr records,
// device nodes keep their numbers, and the second and later names of a
// file are hard links to the first. Holes in files are written as zeros,
// as tar without sparse support stores them; a file larger than the
// filesystem itself is refused rather than inflated.
func WriteTar(ctx context.Context, w io.Writer, fs *FS, opt TarOptions) error {
	t := &tarWalk{ctx: ctx, tw: tar.NewWriter(w), fs: fs, opt: opt, links: map[uint32]string{},
		seenDirs: map[uint32]string{}, budget: 4 * fs.blocks * fs.blockSize, buf: make([]byte, 1<<20)}
	root, err := fs.Inode(rootInode)
	if err != nil {
		return err
	}
	if root.Type() != TypeDir {
		return errorf(ErrFormat, "the root inode is not a directory")
	}
	if err := t.dir("./", root); err != nil {
		return err
	}
	return t.tw.Close()
}

type tarWalk struct {
	ctx      context.Context
	tw       *tar.Writer
	fs       *FS
	opt      TarOptions
	links    map[uint32]string // inode → first name, for hard links
	seenDirs map[uint32]string // directory inode → its name, to catch loops
	budget   int64             // file bytes left before the tar is a bomb
	buf      []byte
}

// dir writes a directory and, depth first, what it holds.
func (t *tarWalk) dir(name string, ino *Inode) error {
	if prev, ok := t.seenDirs[ino.Num]; ok {
		return errorf(ErrFormat, "directory inode %d appears twice, as %s and %s", ino.Num, prev, name)
	}
	t.seenDirs[ino.Num] = name
	if err := t.header(name, ino); err != nil {
		return err
	}
	entries, err := t.fs.ReadDir(ino)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for i, e := range entries {
		if i > 0 && entries[i-1].Name == e.Name {
			return errorf(ErrFormat, "directory %s holds %q twice", name, e.Name)
		}
		if err := t.ctx.Err(); err != nil {
			return err
		}
		child, err := t.fs.Inode(e.Inode)
		if err != nil {
			return fmt.Errorf("%s%s: %w", name, e.Name, err)
		}
		if err := t.entry(name+e.Name, child); err != nil {
			return err
		}
	}
	return nil
}

// entry writes one name.
func (t *tarWalk) entry(name string, ino *Inode) error {
	switch ino.Type() {
	case TypeDir:
		return t.dir(name+"/", ino)
	case TypeSocket:
		if t.opt.Warn != nil {
			t.opt.Warn(fmt.Sprintf("%s: socket left out; a tar cannot hold it", name))
		}
		return nil
	}
	if first, ok := t.links[ino.Num]; ok {
		return t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: first, Format: tar.FormatPAX})
	}
	if ino.Links > 1 {
		t.links[ino.Num] = name
	}
	return t.header(name, ino)
}

// header writes an inode's header and, for a regular file, its data.
func (t *tarWalk) header(name string, ino *Inode) error {
	h := &tar.Header{
		Name: name, Mode: int64(ino.Mode & 07777), Uid: int(ino.UID), Gid: int(ino.GID),
		ModTime: ino.Mtime, AccessTime: ino.Atime, ChangeTime: ino.Ctime, Format: tar.FormatPAX,
	}
	switch ino.Type() {
	case TypeDir:
		h.Typeflag = tar.TypeDir
	case TypeFile:
		h.Typeflag, h.Size = tar.TypeReg, ino.Size
		if ino.Size > t.fs.blocks*t.fs.blockSize || ino.Size > t.budget {
			return errorf(ErrUnsupported, "%s is %d bytes, more than the filesystem holds (a sparse file); a tar would store it all as zeros", name, ino.Size)
		}
		t.budget -= ino.Size
	case TypeSymlink:
		target, err := t.fs.Readlink(ino)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
	case TypeChar, TypeBlock:
		h.Typeflag = tar.TypeChar
		if ino.Type() == TypeBlock {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(ino.Major), int64(ino.Minor)
	case TypeFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		return errorf(ErrFormat, "%s: inode %d has file type %#x", name, ino.Num, ino.Type())
	}
	attrs, err := t.fs.Xattrs(ino)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(attrs) > 0 {
		h.PAXRecords = map[string]string{}
		for k, v := range attrs {
			h.PAXRecords["SCHILY.xattr."+k] = string(v)
		}
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if h.Typeflag == tar.TypeReg {
		return t.data(name, ino)
	}
	return nil
}

// data copies a regular file's bytes.
func (t *tarWalk) data(name string, ino *Inode) error {
	r, err := t.fs.Open(ino)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for off := int64(0); off < ino.Size; {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(t.buf)), ino.Size-off)
		if _, err := r.ReadAt(t.buf[:n], off); err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := t.tw.Write(t.buf[:n]); err != nil {
			return err
		}
		off += n
		if t.opt.Progress != nil {
			t.opt.Progress(n)
		}
	}
	return nil
}
