package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Deb is a Debian binary package: an ar archive holding debian-binary,
// control.tar[.*] and data.tar[.*].
type Deb struct {
	r       io.ReaderAt
	name    string
	closer  io.Closer
	control arMember
	data    arMember
}

type arMember struct {
	name      string
	off, size int64
}

// arHeaderLen is the fixed size of an ar member header.
const arHeaderLen = 60

// OpenDeb opens the .deb at path; Close releases it.
func OpenDeb(path string) (*Deb, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	d, err := NewDeb(f, fi.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	d.closer = f
	return d, nil
}

// NewDeb reads the member table of a .deb of the given size; name labels
// errors.
func NewDeb(r io.ReaderAt, size int64, name string) (*Deb, error) {
	d := &Deb{r: r, name: name}
	bad := func(why string, args ...any) (*Deb, error) {
		return nil, fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(why, args...), ErrFormat)
	}
	magic := make([]byte, 8)
	if _, err := r.ReadAt(magic, 0); err != nil || string(magic) != "!<arch>\n" {
		return bad("not an ar archive")
	}
	hdr := make([]byte, arHeaderLen)
	for off, i := int64(8), 0; off < size; i++ {
		if _, err := r.ReadAt(hdr, off); err != nil {
			return bad("truncated member header at offset %d", off)
		}
		m := arMember{name: strings.TrimSuffix(strings.TrimRight(string(hdr[:16]), " "), "/"), off: off + arHeaderLen}
		var err error
		m.size, err = strconv.ParseInt(strings.TrimRight(string(hdr[48:58]), " "), 10, 64)
		if err != nil || m.size < 0 || string(hdr[58:60]) != "`\n" || m.off+m.size > size {
			return bad("bad member header at offset %d", off)
		}
		off = m.off + m.size + m.size&1 // members are 2-byte aligned
		switch {
		case i == 0:
			if m.name != "debian-binary" {
				return bad("first member is %q, not debian-binary", m.name)
			}
			ver := make([]byte, min(m.size, 16))
			if _, err := r.ReadAt(ver, m.off); err != nil || !bytes.HasPrefix(ver, []byte("2.")) {
				return bad("unsupported format version %q", ver)
			}
		case strings.HasPrefix(m.name, "control.tar") && d.control.name == "":
			d.control = m
		case strings.HasPrefix(m.name, "data.tar") && d.data.name == "":
			d.data = m
		case strings.HasPrefix(m.name, "_"): // dpkg reserves these for extensions
		default:
			return bad("unexpected member %q", m.name)
		}
	}
	if d.control.name == "" || d.data.name == "" {
		return bad("missing control.tar or data.tar member")
	}
	return d, nil
}

// Close releases the file opened by OpenDeb.
func (d *Deb) Close() error {
	if d.closer == nil {
		return nil
	}
	return d.closer.Close()
}

// open returns a tar reader over the decompressed member.
func (d *Deb) open(m arMember) (*tar.Reader, io.Closer, error) {
	raw := bufio.NewReaderSize(io.NewSectionReader(d.r, m.off, m.size), 1<<16)
	var (
		r      io.Reader
		closer io.Closer = io.NopCloser(nil)
		err    error
	)
	switch path.Ext(m.name) {
	case ".tar":
		r = raw
	case ".gz":
		var z *gzip.Reader
		z, err = gzip.NewReader(raw)
		r, closer = z, z
	case ".xz":
		r, err = xz.NewReader(raw)
	case ".zst":
		var z *zstd.Decoder
		z, err = zstd.NewReader(raw, zstd.WithDecoderConcurrency(1))
		if err == nil {
			r, closer = z, z.IOReadCloser()
		}
	case ".bz2":
		r = bzip2.NewReader(raw)
	default:
		return nil, nil, fmt.Errorf("%s: unsupported compression %q: %w", d.name, m.name, ErrFormat)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", d.name, m.name, err)
	}
	return tar.NewReader(r), closer, nil
}

// Control is the control archive of a package.
type Control struct {
	Fields Paragraph // the control file's stanza
	Raw    []byte    // the control file as shipped, for dpkg's status file
	// Files holds the other control members by name: maintainer scripts
	// (preinst, postinst, prerm, postrm, config), conffiles, md5sums,
	// triggers, shlibs, symbols, templates.
	Files map[string][]byte
}

// maxControl bounds the control archive in memory; real ones are a few KB.
const maxControl = 64 << 20

// Control reads the package's control archive.
func (d *Deb) Control() (*Control, error) {
	tr, closer, err := d.open(d.control)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	c := &Control{Files: map[string][]byte{}}
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", d.name, d.control.name, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "./")
		if name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("%s: %s: unexpected entry %q: %w", d.name, d.control.name, h.Name, ErrFormat)
		}
		if total += h.Size; total > maxControl {
			return nil, fmt.Errorf("%s: %s larger than %d bytes: %w", d.name, d.control.name, maxControl, ErrFormat)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %s: %w", d.name, d.control.name, name, err)
		}
		c.Files[name] = data
	}
	c.Raw = c.Files["control"]
	delete(c.Files, "control")
	if c.Raw == nil {
		return nil, fmt.Errorf("%s: no control file: %w", d.name, ErrFormat)
	}
	n := 0
	err = parseParagraphs(bytes.NewReader(c.Raw), d.name+": control", func(p Paragraph, _ int) error {
		n++
		c.Fields = p
		return nil
	})
	if err == nil && n != 1 {
		err = fmt.Errorf("%s: control has %d paragraphs, want 1: %w", d.name, n, ErrFormat)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
