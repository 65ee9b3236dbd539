// Package imagefmt reads virtual disk images: it detects a format by its
// magic and opens the image as a Disk, a random-access view of the guest's
// virtual disk together with the ranges that actually hold data.
//
// Like archive/tar and debug/elf, readers here work over an io.ReaderAt and
// never load a whole image into memory: reads go cluster by cluster (qcow2),
// grain by grain (vmdk) or block by block (vhd, vhdx, vdi). Each format is
// one file, registered in one table of {probe, open} (open.go).
// Images are untrusted input: every offset and length read from a header or
// table is bounds-checked, and malformed images fail with an error wrapping
// ErrFormat that names the offending structure and offset.
package imagefmt

import (
	"errors"
	"io"
	"os"
)

// Format names an image format, spelled as qemu-img spells it.
type Format string

// Formats Detect recognises and Open reads.
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
	// AllowBacking lets a qcow2 image refer to a backing file (the CLI's
	// --allow-backing). It is off by default because a backing path
	// written inside an untrusted image makes the reader open an arbitrary
	// host file.
	AllowBacking bool
}

// Details are a format's own facts about an image, as `coimage info`
// shows them. Fields a format does not have are left empty.
type Details struct {
	// Subformat is the variant within the format: "monolithicSparse",
	// "streamOptimized", "dynamic", "fixed", "v3".
	Subformat string `json:"subformat,omitempty"`
	// Unit names what BlockSize counts: "cluster", "grain" or "block".
	Unit      string `json:"unit,omitempty"`
	BlockSize int64  `json:"block_size,omitempty"`
	// SectorSize is the logical sector size the image declares (vhdx).
	SectorSize  int    `json:"logical_sector_size,omitempty"`
	Compression string `json:"compression,omitempty"`
	// Creator is the program that wrote the image, as the image says.
	Creator string `json:"creator,omitempty"`
	// Files are the files the image is stored in besides the one opened
	// (vmdk extents).
	Files []string `json:"files,omitempty"`
	// LogReplayed is set when a vhdx log was replayed (in memory).
	LogReplayed bool `json:"log_replayed,omitempty"`
}

// Describer is implemented by disks that have Details; DetailsOf asks it.
type Describer interface {
	Details() Details
}

// DetailsOf returns a disk's format details, or none.
func DetailsOf(d Disk) Details {
	if x, ok := d.(Describer); ok {
		return x.Details()
	}
	return Details{}
}

// Mapper is implemented by disks that keep data verbatim in a host file.
// A copier asks it where a range lives, so that it can move the bytes file
// to file (copy_file_range) instead of through its own memory.
type Mapper interface {
	// MapRange describes the run of the disk that starts at off and is
	// stored one way, at most n bytes long. off lies within the disk.
	MapRange(off, n int64) (Mapping, error)
}

// VerbatimMax is the largest unit of storage (qcow2 cluster, vmdk grain)
// that Mapper offers for copying verbatim.
const VerbatimMax = 64 << 10

// Mapping is a run of a disk stored one way.
type Mapping struct {
	Length int64
	// File and Offset say where the run lies verbatim. File is nil when
	// it does not (compressed data, a backing file, an overlay), and
	// where the format's unit of storage is larger than VerbatimMax: a
	// copier that moves whole blocks file to file cannot leave their zeros
	// as holes, so it reads those through ReadAt instead.
	File   *os.File
	Offset int64
	// Zero is set when the run reads as zeros.
	Zero bool
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
