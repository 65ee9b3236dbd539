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
// file are hard links to the first. A file with holes is stored as
// `tar --posix --sparse` stores it (PAX 1.0 sparse): its data ranges
// only, so it stays sparse when extracted. File data beyond four times
// the filesystem's size (blocks shared between files) is refused as a
// bomb.
func WriteTar(ctx context.Context, w io.Writer, fs *FS, opt TarOptions) error {
	t := &tarWalk{ctx: ctx, w: w, tw: tar.NewWriter(w), fs: fs, opt: opt, links: map[uint32]string{},
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
	w        io.Writer // under tw, for the sparse entries tw cannot write
	tw       *tar.Writer
	fs       *FS
	opt      TarOptions
	links    map[uint32]string // inode → first name, for hard links
	seenDirs map[uint32]string // directory inode → its name, to catch loops
	budget   int64             // file data bytes left before the tar is a bomb
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
		// A hard link carries the inode's metadata too, as GNU tar and
		// docker write it: podman and docker import apply a link entry's
		// mode, owners and times to the inode, and a bare link header
		// left the file at mode 0000, dated 1970.
		h, err := t.meta(name, ino)
		if err != nil {
			return err
		}
		h.Typeflag, h.Linkname = tar.TypeLink, first
		return t.write(h)
	}
	if ino.Links > 1 {
		t.links[ino.Num] = name
	}
	return t.header(name, ino)
}

// meta makes the header fields every entry of an inode shares: mode,
// owners, times and extended attributes.
func (t *tarWalk) meta(name string, ino *Inode) (*tar.Header, error) {
	h := &tar.Header{
		Name: name, Mode: int64(ino.Mode & 07777), Uid: int(ino.UID), Gid: int(ino.GID),
		ModTime: ino.Mtime, AccessTime: ino.Atime, ChangeTime: ino.Ctime, Format: tar.FormatPAX,
	}
	attrs, err := t.fs.Xattrs(ino)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(attrs) > 0 {
		h.PAXRecords = map[string]string{}
		for k, v := range attrs {
			h.PAXRecords["SCHILY.xattr."+k] = string(v)
		}
	}
	return h, nil
}

// header writes an inode's header and, for a regular file, its data.
func (t *tarWalk) header(name string, ino *Inode) error {
	h, err := t.meta(name, ino)
	if err != nil {
		return err
	}
	switch ino.Type() {
	case TypeDir:
		h.Typeflag = tar.TypeDir
	case TypeFile:
		h.Typeflag, h.Size = tar.TypeReg, ino.Size
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
	if h.Typeflag == tar.TypeReg {
		return t.file(h, ino)
	}
	return t.write(h)
}

func (t *tarWalk) write(h *tar.Header) error {
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// file writes a regular file's header and data: a plain entry, or a
// sparse one when the file has holes.
func (t *tarWalk) file(h *tar.Header, ino *Inode) error {
	ranges, err := t.fs.DataRanges(ino)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	stored := int64(0)
	for _, r := range ranges {
		stored += r[1] - r[0]
	}
	if stored > t.budget {
		return errorf(ErrFormat, "%s: file data past %d bytes, four times the filesystem: blocks shared between files (a tar bomb)", h.Name, 4*t.fs.blocks*t.fs.blockSize)
	}
	t.budget -= stored
	r, err := t.fs.Open(ino)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	if stored == h.Size {
		if err := t.tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		return t.data(h.Name, t.tw, r, ranges)
	}
	header, sparseMap, err := sparseHeader(h, ranges)
	if err != nil {
		return err
	}
	// tw writes straight through to w: once it has padded the last
	// entry, the sparse entry's blocks can follow it there.
	if err := t.tw.Flush(); err != nil {
		return err
	}
	if _, err := t.w.Write(append(header, sparseMap...)); err != nil {
		return err
	}
	if err := t.data(h.Name, t.w, r, ranges); err != nil {
		return err
	}
	_, err = t.w.Write(make([]byte, padding(stored)))
	return err
}

// data copies the ranges of a file's bytes to w.
func (t *tarWalk) data(name string, w io.Writer, r io.ReaderAt, ranges [][2]int64) error {
	for _, rg := range ranges {
		for off := rg[0]; off < rg[1]; {
			if err := t.ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(t.buf)), rg[1]-off)
			if _, err := r.ReadAt(t.buf[:n], off); err != nil && err != io.EOF {
				return fmt.Errorf("%s: %w", name, err)
			}
			if _, err := w.Write(t.buf[:n]); err != nil {
				return err
			}
			off += n
			if t.opt.Progress != nil {
				t.opt.Progress(n)
			}
		}
	}
	return nil
}
