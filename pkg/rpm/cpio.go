package rpm

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// CPIOHeader is one entry of an RPM payload: the "new ASCII" (newc)
// format, magic 070701, that rpm writes.
type CPIOHeader struct {
	Name                 string // as stored: "./usr/bin/sh"
	Mode                 uint32 // st_mode: type and permission bits
	UID, GID             uint32
	Nlink                uint32
	Mtime                int64
	Size                 int64
	Ino                  uint32
	RdevMajor, RdevMinor uint32
}

// Type bits of CPIOHeader.Mode (S_IFMT and its values).
const (
	ModeType   = 0o170000
	ModeDir    = 0o040000
	ModeReg    = 0o100000
	ModeLink   = 0o120000
	ModeChar   = 0o020000
	ModeBlock  = 0o060000
	ModeFIFO   = 0o010000
	ModeSocket = 0o140000
)

// Limits: names longer than PATH_MAX, and symlink targets, are refused.
const maxCPIOName = 4096

// CPIOReader reads a decompressed payload entry by entry, as archive/tar
// does: Next, then Read for the entry's data.
type CPIOReader struct {
	r    io.Reader
	name string
	off  int64 // bytes consumed, for alignment and errors
	left int64 // unread data of the current entry
	pad  int64 // padding after it
	done bool
}

// NewCPIOReader reads the cpio stream r; name labels errors.
func NewCPIOReader(r io.Reader, name string) *CPIOReader {
	return &CPIOReader{r: r, name: name}
}

// Next skips the rest of the current entry and returns the next header,
// or io.EOF after the trailer.
func (c *CPIOReader) Next() (*CPIOHeader, error) {
	if c.done {
		return nil, io.EOF
	}
	if err := c.skip(c.left + c.pad); err != nil {
		return nil, err
	}
	c.left, c.pad = 0, 0
	var raw [110]byte
	if err := c.full(raw[:]); err != nil {
		return nil, err
	}
	if string(raw[:6]) != "070701" && string(raw[:6]) != "070702" {
		return nil, c.bad("magic %q: want newc (070701)", raw[:6])
	}
	var f [13]uint64
	for i := range f {
		v, err := strconv.ParseUint(string(raw[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return nil, c.bad("field %d: %q is not 8 hex digits", i, raw[6+8*i:14+8*i])
		}
		f[i] = v
	}
	h := &CPIOHeader{Ino: uint32(f[0]), Mode: uint32(f[1]), UID: uint32(f[2]), GID: uint32(f[3]), Nlink: uint32(f[4]),
		Mtime: int64(f[5]), Size: int64(f[6]), RdevMajor: uint32(f[9]), RdevMinor: uint32(f[10])}
	namesize := int64(f[11])
	if namesize < 2 || namesize > maxCPIOName {
		return nil, c.bad("name size %d", namesize)
	}
	name := make([]byte, namesize)
	if err := c.full(name); err != nil {
		return nil, err
	}
	if name[namesize-1] != 0 || bytes.IndexByte(name[:namesize-1], 0) >= 0 {
		return nil, c.bad("name %q is not one NUL-terminated string", name)
	}
	h.Name = string(name[:namesize-1])
	if err := c.skip(align4(c.off)); err != nil {
		return nil, err
	}
	if h.Name == "TRAILER!!!" {
		c.done = true
		return nil, io.EOF
	}
	switch h.Mode & ModeType {
	case ModeReg:
	case ModeLink:
		if h.Size == 0 || h.Size > maxCPIOName {
			return nil, c.bad("%s: symlink target of %d bytes", h.Name, h.Size)
		}
	case ModeDir, ModeChar, ModeBlock, ModeFIFO, ModeSocket:
		if h.Size != 0 {
			return nil, c.bad("%s: %o entry with %d bytes of data", h.Name, h.Mode&ModeType, h.Size)
		}
	default:
		return nil, c.bad("%s: unknown file type %o", h.Name, h.Mode&ModeType)
	}
	c.left, c.pad = h.Size, align4(c.off+h.Size)
	return h, nil
}

// FileMode is the entry's mode as io/fs spells it.
func (h *CPIOHeader) FileMode() fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	if h.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch h.Mode & ModeType {
	case ModeDir:
		m |= fs.ModeDir
	case ModeLink:
		m |= fs.ModeSymlink
	case ModeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case ModeBlock:
		m |= fs.ModeDevice
	case ModeFIFO:
		m |= fs.ModeNamedPipe
	case ModeSocket:
		m |= fs.ModeSocket
	}
	return m
}

// Read reads the current entry's data.
func (c *CPIOReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	c.off += int64(n)
	if err == io.EOF && c.left > 0 {
		err = c.bad("data ends %d bytes early", c.left)
	}
	return n, err
}

func (c *CPIOReader) full(b []byte) error {
	n, err := io.ReadFull(c.r, b)
	c.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return c.bad("stream ends without a trailer")
	}
	return err
}

func (c *CPIOReader) skip(n int64) error {
	m, err := io.CopyN(io.Discard, c.r, n)
	c.off += m
	if err == io.EOF {
		return c.bad("stream ends without a trailer")
	}
	return err
}

func (c *CPIOReader) bad(format string, a ...any) error {
	return fmt.Errorf("%s: cpio at %d: %s: %w", c.name, c.off, fmt.Sprintf(format, a...), ErrFormat)
}

// align4 is the padding that brings off to a multiple of 4.
func align4(off int64) int64 { return (4 - off%4) % 4 }
