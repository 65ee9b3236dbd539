package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// openDeb opens a verified .deb for extraction. A data.tar.xz is
// decompressed up front by the host's xz and handed to archive.NewDeb as an
// uncompressed data.tar inside an in-memory ar archive, so the archive
// package's checks and safe extractor still do all the work. The archive
// is laid out in buf, whose storage is reused: the decompressed data goes
// straight into its place, with no second copy, and the buffers that
// unpacking cycles through stop costing fresh memory after the first few
// packages. The returned buffer, possibly grown, backs the Deb until the
// caller is done with it. Other compressions go to archive.OpenDeb
// unchanged.
func openDeb(ctx context.Context, path string, buf []byte) (*archive.Deb, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, buf, err
	}
	members, err := arMembers(f, fi.Size())
	if err != nil || len(members) != 3 || members[2].name != "data.tar.xz" {
		d, err := archive.OpenDeb(path) // let the archive package judge it
		return d, buf, err
	}
	b := append(buf[:0], "!<arch>\n"...)
	for _, m := range members[:2] {
		b = appendArHeader(b, m.name, m.size)
		start := len(b)
		b = grow(b, int(m.size))[:start+int(m.size)]
		if _, err := f.ReadAt(b[start:], m.off); err != nil {
			return nil, b, fmt.Errorf("%s: %s: %w", path, m.name, err)
		}
		if m.size%2 == 1 {
			b = append(b, '\n')
		}
	}
	hdr := len(b)
	b = appendArHeader(b, "data.tar", 0) // its size is known once decompressed
	data := len(b)
	b, err = unxzAppend(ctx, b, io.NewSectionReader(f, members[2].off, members[2].size), 4*int(members[2].size))
	if err != nil {
		return nil, b, fmt.Errorf("%s: data.tar.xz: %w", path, err)
	}
	size := len(b) - data
	if size >= 1e10 {
		return nil, b, fmt.Errorf("%s: data.tar.xz: %d bytes decompressed: %w", path, size, archive.ErrFormat)
	}
	appendArHeader(b[hdr:hdr], "data.tar", int64(size)) // overwrites the placeholder: same width
	if size%2 == 1 {
		b = append(b, '\n')
	}
	d, err := archive.NewDeb(bytes.NewReader(b), int64(len(b)), path)
	return d, b, err
}

// unxzAppend decompresses an xz stream onto the end of b, growing it by
// at least hint bytes at a time.
func unxzAppend(ctx context.Context, b []byte, r io.Reader, hint int) ([]byte, error) {
	zr, err := xzReader(ctx, r)
	if err != nil {
		return b, err
	}
	for {
		if len(b) == cap(b) {
			b = grow(b, hint)
		}
		n, err := zr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			zr.Close()
			return b, err
		}
	}
	return b, zr.Close()
}

// grow makes room for n more bytes after len(b), at least doubling the
// capacity when it must reallocate.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

type arMember struct {
	name      string
	off, size int64
}

// arMembers reads an ar archive's member table from r, size bytes long; it
// only needs to be good enough to find the members, archive.NewDeb
// validates the result.
func arMembers(r io.ReaderAt, size int64) ([]arMember, error) {
	magic := make([]byte, 8)
	if _, err := r.ReadAt(magic, 0); err != nil || string(magic) != "!<arch>\n" {
		return nil, archive.ErrFormat
	}
	var out []arMember
	h := make([]byte, 60)
	for off := int64(8); off < size; {
		if _, err := r.ReadAt(h, off); err != nil {
			return nil, archive.ErrFormat
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(h[48:58])), 10, 64)
		start := off + 60
		if err != nil || n < 0 || start+n > size {
			return nil, archive.ErrFormat
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(h[:16])), "/")
		out = append(out, arMember{name: name, off: start, size: n})
		off = start + n + n&1
	}
	return out, nil
}

// appendArHeader appends the 60-byte header of an ar member.
func appendArHeader(b []byte, name string, size int64) []byte {
	return fmt.Appendf(b, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", name, "0", "0", "0", "100644", size)
}
