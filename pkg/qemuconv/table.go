package qemuconv

import (
	"errors"
	"fmt"
	"io"
)

// Scheme names a partition-table scheme.
type Scheme string

// Schemes ReadTable reports.
const (
	SchemeMBR  Scheme = "mbr"
	SchemeGPT  Scheme = "gpt"
	SchemeNone Scheme = "none" // no table: the disk may hold a bare filesystem
)

var (
	// ErrTable reports a partition table that cannot be trusted: an entry
	// past the disk end, a looping extended chain, a GPT whose primary
	// and backup both fail their CRCs, and the like.
	ErrTable = errors.New("invalid partition table")
	// ErrNoRoot reports that ChooseRoot found no partition to copy.
	ErrNoRoot = errors.New("no root filesystem partition found")
)

// sectorSize is the logical sector size of every disk read here. qemu and
// every cloud image use 512; 4Kn images are not recognised.
const sectorSize = 512

// Partition is one partition as Linux sees it.
type Partition struct {
	Number   int    // as Linux numbers it: MBR primaries 1-4, logicals from 5 in chain order; GPT entry index+1
	Start    int64  // bytes from disk start
	Size     int64  // bytes
	Type     string // MBR: "0x83"; GPT: type GUID upper-case
	TypeName string // as fdisk names the type, or "" when unknown
	Name     string // GPT partition name
	FS       FS     // filled by ReadTable via DetectFS
}

// Table is a disk's partition table. Partitions are in table order: for
// MBR the primaries then the logicals; for GPT by entry number. An MBR
// extended partition is a container, not a partition, so it is not listed
// (sfdisk -J lists it; the rest of the list is the same).
type Table struct {
	Scheme     Scheme
	Partitions []Partition
	SectorSize int64
	// Warnings are oddities that did not stop the read, e.g.
	// "primary GPT header damaged; using backup".
	Warnings []string
}

// ReadTable reads the partition table of a disk of size bytes. A disk
// without a recognisable table (no 0x55AA signature, or a sector 0 that is
// a FAT boot sector rather than an MBR) is Scheme "none" with no
// partitions; the caller may then look for a filesystem at offset 0.
func ReadTable(r io.ReaderAt, size int64) (*Table, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative disk size %d", ErrTable, size)
	}
	t := &Table{Scheme: SchemeNone, SectorSize: sectorSize}
	var sector0 [sectorSize]byte
	if !readAt(r, sector0[:], 0, size) {
		return t, nil
	}
	entries, ok := parseMBR(sector0[:])
	if !ok || !plausibleBootFlags(entries) {
		return t, nil
	}
	var err error
	if hasProtective(entries) {
		t.Scheme = SchemeGPT
		err = readGPT(r, size, entries, t)
	} else {
		t.Scheme = SchemeMBR
		err = readMBR(r, size, entries, t)
	}
	if err != nil {
		return nil, err
	}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		p.FS = DetectFS(r, p.Start, p.Size)
	}
	return t, nil
}

// readAt fills buf from r at off when [off, off+len(buf)) lies within
// [0, limit), and reports whether it could.
func readAt(r io.ReaderAt, buf []byte, off, limit int64) bool {
	if off < 0 || off > limit || int64(len(buf)) > limit-off {
		return false
	}
	n, _ := r.ReadAt(buf, off) // io.ReaderAt: a full read may come with io.EOF
	return n == len(buf)
}
