// Package ext4 reads ext2, ext3 and ext4 filesystems over an io.ReaderAt:
// the directory tree, each inode's owner, mode, times, device numbers,
// symbolic link target, extended attributes and data. It exists to export
// a cobd image's tree as a tar (WriteTar) on any operating system, without
// debugfs or a mount.
//
// Like debug/elf it treats its input as untrusted: every block number,
// count and offset read from the filesystem is checked against the
// filesystem's size and the structure it sits in, trees are walked with
// bounded depth, and malformed filesystems fail with an error wrapping
// ErrFormat that names the inode or block. Checksums (metadata_csum) are
// not verified; the structure is.
package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

var (
	// ErrFormat reports a malformed filesystem.
	ErrFormat = errors.New("malformed ext4 filesystem")
	// ErrUnsupported reports a filesystem feature this package cannot read.
	ErrUnsupported = errors.New("unsupported ext4 feature")
)

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), sentinel)
}

const (
	superblockAt = 1024
	magic        = 0xEF53

	// Incompatible features.
	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64Bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargeDir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000
	incompatKnown       = incompatFiletype | incompatMetaBG | incompatExtents | incompat64Bit | incompatMMP |
		incompatFlexBG | incompatEAInode | incompatCsumSeed | incompatLargeDir | incompatInlineData |
		incompatEncrypt | incompatCasefold

	rootInode = 2
)

// FS is an opened filesystem.
type FS struct {
	r          io.ReaderAt
	size       int64 // bytes the filesystem may occupy
	blockSize  int64
	blocks     int64
	free       int64
	inodes     uint32
	perGroup   uint32 // inodes per group
	inodeSize  int64
	incompat   uint32
	inodeTable []int64 // first block of each group's inode table
}

// Open reads the filesystem in r, which holds size bytes.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, superblockAt); err != nil {
		return nil, errorf(ErrFormat, "reading the superblock: %v", err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != magic {
		return nil, errorf(ErrFormat, "no ext2/3/4 superblock (magic %#x)", le.Uint16(sb[0x38:]))
	}
	fs := &FS{r: r, size: size}
	logBlock := le.Uint32(sb[0x18:])
	if logBlock > 6 {
		return nil, errorf(ErrFormat, "block size 2^%d KiB", logBlock)
	}
	fs.blockSize = 1024 << logBlock
	fs.incompat = le.Uint32(sb[0x60:])
	fs.blocks = int64(le.Uint32(sb[0x4:]))
	if fs.incompat&incompat64Bit != 0 {
		fs.blocks |= int64(le.Uint32(sb[0x150:])) << 32
	}
	fs.free = int64(le.Uint32(sb[0xc:]))
	if fs.incompat&incompat64Bit != 0 {
		fs.free |= int64(le.Uint32(sb[0x158:])) << 32
	}
	fs.inodes = le.Uint32(sb[0x0:])
	fs.perGroup = le.Uint32(sb[0x28:])
	perGroupBlocks := int64(le.Uint32(sb[0x20:]))
	firstData := int64(le.Uint32(sb[0x14:]))
	fs.inodeSize = 128
	if le.Uint32(sb[0x4c:]) >= 1 { // dynamic revision: the size is recorded
		fs.inodeSize = int64(le.Uint16(sb[0x58:]))
	}
	switch {
	case fs.incompat&incompatRecover != 0:
		return nil, errorf(ErrUnsupported, "the journal needs recovery (the filesystem was not unmounted cleanly); run e2fsck on the image first")
	case fs.incompat&(incompatCompression|incompatJournalDev|incompatDirData) != 0:
		return nil, errorf(ErrUnsupported, "incompatible features %#x (compression, journal device or dirdata)", fs.incompat&(incompatCompression|incompatJournalDev|incompatDirData))
	case fs.incompat&^incompatKnown != 0:
		return nil, errorf(ErrUnsupported, "unknown incompatible features %#x", fs.incompat&^incompatKnown)
	case fs.blocks <= 0 || fs.blocks > size/fs.blockSize+1:
		return nil, errorf(ErrFormat, "%d blocks of %d bytes do not fit in %d bytes", fs.blocks, fs.blockSize, size)
	case fs.perGroup == 0 || perGroupBlocks == 0:
		return nil, errorf(ErrFormat, "empty block groups")
	case fs.inodeSize < 128 || fs.inodeSize > fs.blockSize || fs.inodeSize&(fs.inodeSize-1) != 0:
		return nil, errorf(ErrFormat, "inode size %d", fs.inodeSize)
	}
	groups := (fs.blocks - firstData + perGroupBlocks - 1) / perGroupBlocks
	if int64(fs.inodes) > groups*int64(fs.perGroup) {
		return nil, errorf(ErrFormat, "%d inodes do not fit in %d groups of %d", fs.inodes, groups, fs.perGroup)
	}
	descSize := int64(32)
	if fs.incompat&incompat64Bit != 0 {
		descSize = int64(le.Uint16(sb[0xfe:]))
		if descSize < 64 || descSize > fs.blockSize || descSize&(descSize-1) != 0 {
			return nil, errorf(ErrFormat, "group descriptor size %d", descSize)
		}
	}
	firstMetaBG := int64(-1)
	if fs.incompat&incompatMetaBG != 0 {
		firstMetaBG = int64(le.Uint32(sb[0x104:]))
	}
	if err := fs.readGroups(groups, descSize, firstData, perGroupBlocks, firstMetaBG); err != nil {
		return nil, err
	}
	return fs, nil
}

// readGroups reads each group's inode table location from the group
// descriptors, which follow the superblock, or with meta_bg sit in the
// first group of each run of groups they describe.
func (fs *FS) readGroups(groups, descSize, firstData, perGroupBlocks, firstMetaBG int64) error {
	perBlock := fs.blockSize / descSize
	if groups > fs.size/fs.blockSize {
		return errorf(ErrFormat, "%d block groups for %d bytes", groups, fs.size)
	}
	fs.inodeTable = make([]int64, groups)
	buf := make([]byte, fs.blockSize)
	le := binary.LittleEndian
	for b := int64(0); b*perBlock < groups; b++ {
		at := firstData + 1 + b
		if firstMetaBG >= 0 && b >= firstMetaBG {
			// meta_bg: the block sits in the first group of its run, after
			// that group's superblock backup when it has one; groups 0 and 1
			// and powers of 3, 5 and 7 have one with sparse_super, and every
			// real filesystem using meta_bg has sparse_super.
			g := b * perBlock
			at = firstData + g*perGroupBlocks
			if hasSuperBackup(g) {
				at++
			}
		}
		if err := fs.readBlock(buf, at); err != nil {
			return fmt.Errorf("group descriptors: %w", err)
		}
		for i := int64(0); i < perBlock && b*perBlock+i < groups; i++ {
			d := buf[i*descSize:]
			t := int64(le.Uint32(d[8:]))
			if descSize >= 64 {
				t |= int64(le.Uint32(d[0x28:])) << 32
			}
			tableBlocks := (int64(fs.perGroup)*fs.inodeSize + fs.blockSize - 1) / fs.blockSize
			if t <= 0 || t > fs.blocks-tableBlocks {
				return errorf(ErrFormat, "group %d's inode table at block %d lies outside the %d blocks", b*perBlock+i, t, fs.blocks)
			}
			fs.inodeTable[b*perBlock+i] = t
		}
	}
	return nil
}

func hasSuperBackup(g int64) bool {
	if g <= 1 {
		return true
	}
	for _, p := range []int64{3, 5, 7} {
		n := p
		for n < g {
			n *= p
		}
		if n == g {
			return true
		}
	}
	return false
}

// readBlock reads block n into buf (one block long).
func (fs *FS) readBlock(buf []byte, n int64) error {
	if n < 0 || n >= fs.blocks {
		return errorf(ErrFormat, "block %d lies outside the %d blocks", n, fs.blocks)
	}
	if _, err := fs.r.ReadAt(buf, n*fs.blockSize); err != nil && err != io.EOF {
		return fmt.Errorf("reading block %d: %w", n, err)
	}
	return nil
}

// Used is what the superblock says the filesystem uses, in bytes: about
// what its tar holds.
func (fs *FS) Used() int64 { return max(0, fs.blocks-fs.free) * fs.blockSize }

// Inode file types, from the mode's top bits.
const (
	TypeFIFO    = 0x1000
	TypeChar    = 0x2000
	TypeDir     = 0x4000
	TypeBlock   = 0x6000
	TypeFile    = 0x8000
	TypeSymlink = 0xA000
	TypeSocket  = 0xC000
	typeMask    = 0xF000
)

// Inode flags the reader uses.
const (
	flagEncrypt    = 0x800
	flagIndex      = 0x1000
	flagHugeFile   = 0x40000
	flagExtents    = 0x80000
	flagEAInode    = 0x200000
	flagInlineData = 0x10000000
)

// Inode is one inode's metadata.
type Inode struct {
	Num   uint32
	Mode  uint16 // type and permission bits, as stat's st_mode
	UID   uint32
	GID   uint32
	Size  int64
	Links uint16
	Atime time.Time
	Mtime time.Time
	Ctime time.Time
	// Major and Minor are a device node's numbers.
	Major, Minor uint32
	flags        uint32
	block        []byte // i_block, 60 bytes: extent root, block map or inline data
	xattrBlock   int64
	raw          []byte // the whole on-disk inode, for in-inode xattrs
}

// Type is the inode's file type (one of the Type constants).
func (i *Inode) Type() uint16 { return i.Mode & typeMask }

// Inode reads inode n.
func (fs *FS) Inode(n uint32) (*Inode, error) {
	if n == 0 || n > fs.inodes {
		return nil, errorf(ErrFormat, "inode %d outside 1..%d", n, fs.inodes)
	}
	g, idx := int64((n-1)/fs.perGroup), int64((n-1)%fs.perGroup)
	raw := make([]byte, fs.inodeSize)
	at := fs.inodeTable[g]*fs.blockSize + idx*fs.inodeSize
	if _, err := fs.r.ReadAt(raw, at); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading inode %d: %w", n, err)
	}
	le := binary.LittleEndian
	ino := &Inode{
		Num:        n,
		Mode:       le.Uint16(raw[0:]),
		UID:        uint32(le.Uint16(raw[2:])) | uint32(le.Uint16(raw[0x78:]))<<16,
		GID:        uint32(le.Uint16(raw[0x18:])) | uint32(le.Uint16(raw[0x7a:]))<<16,
		Size:       int64(le.Uint32(raw[4:])) | int64(le.Uint32(raw[0x6c:]))<<32,
		Links:      le.Uint16(raw[0x1a:]),
		flags:      le.Uint32(raw[0x20:]),
		block:      raw[0x28:0x64],
		xattrBlock: int64(le.Uint32(raw[0x68:])) | int64(le.Uint16(raw[0x76:]))<<32,
		raw:        raw,
	}
	if ino.Size < 0 {
		return nil, errorf(ErrFormat, "inode %d has size %d", n, ino.Size)
	}
	extra := 0
	if fs.inodeSize > 128 {
		extra = int(le.Uint16(raw[0x80:]))
		if 128+extra > int(fs.inodeSize) {
			return nil, errorf(ErrFormat, "inode %d claims %d extra bytes", n, extra)
		}
	}
	// A time's extra field holds two more epoch bits and the nanoseconds;
	// it exists when the inode's extra part reaches it.
	stamp := func(base, extraAt int) time.Time {
		sec := int64(int32(le.Uint32(raw[base:])))
		var nsec int64
		if 128+extra >= extraAt+4 {
			x := le.Uint32(raw[extraAt:])
			sec += int64(x&3) << 32
			nsec = int64(x >> 2)
			if nsec > 999999999 {
				nsec = 0
			}
		}
		return time.Unix(sec, nsec).UTC()
	}
	ino.Ctime, ino.Mtime, ino.Atime = stamp(0xc, 0x84), stamp(0x10, 0x88), stamp(0x8, 0x8c)
	if t := ino.Type(); t == TypeChar || t == TypeBlock {
		if old := le.Uint32(ino.block); old != 0 {
			ino.Major, ino.Minor = old>>8&0xff, old&0xff
		} else {
			v := le.Uint32(ino.block[4:])
			ino.Major, ino.Minor = v&0xfff00>>8, v&0xff|v>>12&0xfff00
		}
	}
	if ino.flags&flagEncrypt != 0 {
		return nil, errorf(ErrUnsupported, "inode %d is encrypted (fscrypt)", n)
	}
	return ino, nil
}
