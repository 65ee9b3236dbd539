// Package imagefmt reads virtual disk images: it detects a format by its
// magic and opens the image as a Disk, a random-access view of the guest's
// virtual disk together with the ranges that actually hold data.
//
// Like archive/tar and debug/elf, readers here work over an io.ReaderAt and
// never load a whole image into memory: qcow2 reads go cluster by cluster.
// Images are untrusted input: every offset and length read from a header or
// table is bounds-checked, and malformed images fail with an error wrapping
// ErrFormat that names the offending structure and offset.
package imagefmt

import (
	"errors"
	"io"
)

// Format names an image format, spelled as qemu-img spells it.
type Format string

// Formats Detect can recognise. Open reads raw, qcow2 and xz today; the rest
// are detected so that the error can say what the file is.
const (
	Raw   Format = "raw"
	QCOW2 Format = "qcow2"
	XZ    Format = "xz"
	VMDK  Format = "vmdk"
	VHD   Format = "vpc"
	VHDX  Format = "vhdx"
	VDI   Format = "vdi"
)

var (
	// ErrFormat reports a malformed image: bad magic, a truncated header,
	// a table entry pointing outside the file, and the like.
	ErrFormat = errors.New("malformed image")
	// ErrUnsupported reports a well-formed image using a feature, or a
	// format, that this package does not read.
	ErrUnsupported = errors.New("unsupported image feature")
	// ErrBacking reports an image that names a backing file while
	// Options.AllowBacking is false.
	ErrBacking = errors.New("image has a backing file")
)

// Extent is a byte range of the virtual disk that may hold non-zero data.
// Everything outside a Disk's extents reads as zeros.
type Extent struct {
	Offset int64
	Length int64
}

// Disk is an opened virtual disk. ReadAt is safe for concurrent use, so a
// copier may read (and, for compressed formats, decompress) several ranges
// in parallel. Reads past Size return io.EOF like a file would.
type Disk interface {
	io.ReaderAt
	io.Closer
	// Format is the detected container format.
	Format() Format
	// Size is the virtual disk size in bytes.
	Size() int64
	// Extents lists the ranges that may hold data, sorted by offset, not
	// overlapping, and within [0, Size).
	Extents() ([]Extent, error)
}

// Options control Open.
type Options struct {
	// AllowBacking lets a qcow2 image refer to a backing file. It is off
	// by default because a backing path written inside an untrusted image
	// makes the reader open an arbitrary host file.
	AllowBacking bool
}

// AllocatedBytes sums the lengths of a disk's extents.
func AllocatedBytes(d Disk) (int64, error) {
	ext, err := d.Extents()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ext {
		n += e.Length
	}
	return n, nil
}
