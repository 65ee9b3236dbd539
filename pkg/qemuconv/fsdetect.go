package qemuconv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
)

// FS identifies a filesystem by its superblock, with the names blkid uses.
// The zero FS means nothing was recognised.
type FS struct {
	Type  string // "ext2", "ext3", "ext4", "jbd", "xfs", "btrfs", "swap", "vfat"
	Label string
	UUID  string // as blkid prints it; "" when the filesystem has none
	// Size is the filesystem's own idea of its size in bytes, from the
	// superblock; 0 where the probe does not read it.
	Size int64
}

// DetectFS looks for a filesystem superblock in the size bytes of r at off.
// It reads a few sectors at most and returns the zero FS for anything it
// does not recognise, including short or unreadable input.
func DetectFS(r io.ReaderAt, off, size int64) FS {
	if off < 0 || size < 0 {
		return FS{}
	}
	d := fsRegion{r, off, size}
	for _, probe := range []func(fsRegion) (FS, bool){probeExt, probeXFS, probeBtrfs, probeSwap, probeVFAT} {
		if fs, ok := probe(d); ok {
			return fs
		}
	}
	return FS{}
}

// fsRegion is the byte range being probed.
type fsRegion struct {
	r         io.ReaderAt
	off, size int64
}

// read returns the n bytes at at within the region, or nil.
func (d fsRegion) read(at, n int64) []byte {
	if at < 0 || at > d.size || n > d.size-at || d.off > math.MaxInt64-at {
		return nil
	}
	buf := make([]byte, n)
	if n, _ := d.r.ReadAt(buf, d.off+at); n != len(buf) {
		return nil
	}
	return buf
}

// ext2/3/4 feature bits that tell the three apart, as libblkid does: a
// filesystem using any feature ext3 lacks is ext4; otherwise one with a
// journal is ext3 and one without is ext2.
const (
	extCompatHasJournal  = 0x0004
	extIncompatFiletype  = 0x0002
	extIncompatRecover   = 0x0004
	extIncompatJournalDv = 0x0008
	extIncompatMetaBG    = 0x0010
	extROSparseSuper     = 0x0001
	extROLargeFile       = 0x0002
	extROBtreeDir        = 0x0004
	ext3Incompat         = extIncompatFiletype | extIncompatRecover | extIncompatMetaBG
	ext3RO               = extROSparseSuper | extROLargeFile | extROBtreeDir
)

func probeExt(d fsRegion) (FS, bool) {
	sb := d.read(1024, 0x158)
	if sb == nil || binary.LittleEndian.Uint16(sb[0x38:]) != 0xEF53 {
		return FS{}, false
	}
	le := binary.LittleEndian
	compat, incompat, ro := le.Uint32(sb[0x5C:]), le.Uint32(sb[0x60:]), le.Uint32(sb[0x64:])
	typ := "ext2"
	switch {
	case incompat&extIncompatJournalDv != 0:
		typ = "jbd" // an external journal, not a filesystem
	case incompat&^ext3Incompat != 0 || ro&^ext3RO != 0:
		typ = "ext4"
	case compat&extCompatHasJournal != 0:
		typ = "ext3"
	}
	return FS{Type: typ, Label: cString(sb[0x78:0x88]), UUID: formatUUID(sb[0x68:0x78]), Size: extSize(sb, incompat)}, true
}

const extIncompat64Bit = 0x0080

// extSize is blocks × block size from the superblock, or 0 when the
// fields are implausible (a block size beyond ext4's 64 KiB maximum).
func extSize(sb []byte, incompat uint32) int64 {
	le := binary.LittleEndian
	logBlock := le.Uint32(sb[0x18:])
	if logBlock > 6 {
		return 0
	}
	blocks := uint64(le.Uint32(sb[0x04:]))
	if incompat&extIncompat64Bit != 0 {
		blocks |= uint64(le.Uint32(sb[0x150:])) << 32
	}
	if blocks > math.MaxInt64>>(10+logBlock) {
		return 0
	}
	return int64(blocks) << (10 + logBlock)
}

func probeXFS(d fsRegion) (FS, bool) {
	sb := d.read(0, 120)
	if sb == nil || string(sb[:4]) != "XFSB" {
		return FS{}, false
	}
	return FS{Type: "xfs", Label: cString(sb[108:120]), UUID: formatUUID(sb[32:48])}, true
}

func probeBtrfs(d fsRegion) (FS, bool) {
	sb := d.read(64<<10, 0x12b+256)
	if sb == nil || string(sb[0x40:0x48]) != "_BHRfS_M" {
		return FS{}, false
	}
	return FS{Type: "btrfs", Label: cString(sb[0x12b:]), UUID: formatUUID(sb[0x20:0x30])}, true
}

// probeSwap finds the swap signature at the end of the first page, for
// each page size Linux has used. Version 1 headers carry a UUID and label.
func probeSwap(d fsRegion) (FS, bool) {
	for page := int64(4096); page <= 64<<10; page *= 2 {
		magic := d.read(page-10, 10)
		if magic == nil {
			return FS{}, false
		}
		switch string(magic) {
		case "SWAP-SPACE":
			return FS{Type: "swap"}, true
		case "SWAPSPACE2":
			h := d.read(1024, 44)
			if h == nil || binary.LittleEndian.Uint32(h) != 1 {
				return FS{Type: "swap"}, true
			}
			return FS{Type: "swap", Label: cString(h[28:44]), UUID: formatUUID(h[12:28])}, true
		}
	}
	return FS{}, false
}

// probeVFAT recognises a FAT boot sector by its filesystem-type string
// and sane geometry. The label is the boot sector's; blkid prefers a
// root-directory label entry, which mkfs.vfat writes identically.
func probeVFAT(d fsRegion) (FS, bool) {
	bs := d.read(0, 512)
	if bs == nil || bs[510] != 0x55 || bs[511] != 0xAA {
		return FS{}, false
	}
	sectorBytes := binary.LittleEndian.Uint16(bs[11:])
	perCluster, reserved, fats := bs[13], binary.LittleEndian.Uint16(bs[14:]), bs[16]
	if sectorBytes < 512 || sectorBytes > 4096 || sectorBytes&(sectorBytes-1) != 0 ||
		perCluster == 0 || perCluster&(perCluster-1) != 0 || reserved == 0 || fats == 0 {
		return FS{}, false
	}
	var serial, label []byte // the extended BPB sits at 0x24 on FAT12/16, 0x40 on FAT32
	switch {
	case bytes.HasPrefix(bs[0x52:], []byte("FAT32   ")):
		serial, label = bs[0x43:0x47], bs[0x47:0x52]
	case bytes.HasPrefix(bs[0x36:], []byte("FAT1")):
		serial, label = bs[0x27:0x2b], bs[0x2b:0x36]
	default:
		return FS{}, false
	}
	fs := FS{Type: "vfat", Label: strings.TrimRight(string(label), " ")}
	if fs.Label == "NO NAME" {
		fs.Label = ""
	}
	if s := binary.LittleEndian.Uint32(serial); s != 0 {
		fs.UUID = fmt.Sprintf("%04X-%04X", s>>16, s&0xffff)
	}
	return fs, true
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// formatUUID formats 16 big-endian bytes as blkid does, "" for all zeros.
func formatUUID(b []byte) string {
	if bytes.Count(b, []byte{0}) == len(b) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
