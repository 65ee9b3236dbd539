package imagefmt

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
	"strings"
)

// The vhd ("vpc") layout follows Microsoft's Virtual Hard Disk Image
// Format Specification 1.0; the virtual size follows QEMU's block/vpc.c.

const (
	vhdMagic       = "conectix"
	vhdSparseMagic = "cxsparse"

	vhdFixed        = 2
	vhdDynamic      = 3
	vhdDifferencing = 4

	vhdFooterLen    = 512
	vhdDynHeaderLen = 1024
	vhdUnallocated  = 0xffffffff

	// QEMU's limits: about 2 TiB of sectors, and the CHS geometry that
	// means "use the size field instead".
	vhdMaxSectors  = 0xff000000
	vhdMaxGeometry = 65535 * 16 * 255

	// vhdMaxBAT bounds the block allocation table kept in memory.
	vhdMaxBAT = 64 << 20
)

// A dynamic vhd keeps a copy of the footer at offset 0; a fixed one only
// has it at the end.
func probeVHD(head []byte, r io.ReaderAt, size int64) bool {
	if bytes.HasPrefix(head, []byte(vhdMagic)) {
		return true
	}
	if size < vhdFooterLen {
		return false
	}
	var f [vhdFooterLen]byte
	if _, err := r.ReadAt(f[:], size-vhdFooterLen); err != nil {
		return false
	}
	return string(f[:8]) == vhdMagic && binary.BigEndian.Uint32(f[60:]) == vhdFixed
}

// vhdFooter holds the footer fields the reader uses.
type vhdFooter struct {
	dataOffset  uint64
	creator     string
	currentSize uint64
	geometry    uint64 // cylinders × heads × sectors per track
	diskType    uint32
}

func parseVHDFooter(b []byte, at int64) (vhdFooter, error) {
	be := binary.BigEndian
	if string(b[:8]) != vhdMagic {
		return vhdFooter{}, errorf(ErrFormat, "vpc: no footer (cookie %q) at %#x", b[:8], at)
	}
	if sum := vhdChecksum(b, 64); sum != be.Uint32(b[64:]) {
		return vhdFooter{}, errorf(ErrFormat, "vpc: footer at %#x has checksum %#x, its bytes sum to %#x", at, be.Uint32(b[64:]), sum)
	}
	return vhdFooter{
		dataOffset:  be.Uint64(b[16:]),
		creator:     string(b[28:32]),
		currentSize: be.Uint64(b[48:]),
		geometry:    uint64(be.Uint16(b[56:])) * uint64(b[58]) * uint64(b[59]),
		diskType:    be.Uint32(b[60:]),
	}, nil
}

// vhdChecksum is the ones' complement of the sum of b's bytes, leaving out
// the four checksum bytes at skip.
func vhdChecksum(b []byte, skip int) uint32 {
	var sum uint32
	for i, c := range b {
		if i < skip || i >= skip+4 {
			sum += uint32(c)
		}
	}
	return ^sum
}

// vhdSize is the virtual size as QEMU computes it: Virtual PC and QEMU's
// own older images size the disk by its CHS geometry, Hyper-V, disk2vhd,
// XenServer and newer QEMU ("qem2") by the size field, which also wins
// when the geometry is at its maximum.
func vhdSize(f vhdFooter) (int64, error) {
	sectors := f.geometry
	switch f.creator {
	case "win ", "qem2", "d2v ", "CTXS", "tap\x00":
		sectors = f.currentSize / 512
	}
	if sectors == vhdMaxGeometry {
		sectors = f.currentSize / 512
	}
	if sectors > vhdMaxSectors {
		return 0, errorf(ErrUnsupported, "vpc: %d sectors is more than the format's 2 TiB", sectors)
	}
	return int64(sectors) * 512, nil
}

func openVHD(img *image) (Disk, error) {
	var fb [vhdFooterLen]byte
	at := int64(0)
	if _, err := img.r.ReadAt(fb[:], 0); err != nil || string(fb[:8]) != vhdMagic {
		at = img.size - vhdFooterLen
		if at < 0 {
			return nil, errorf(ErrFormat, "vpc: file of %d bytes is shorter than a footer", img.size)
		}
		if _, err := img.r.ReadAt(fb[:], at); err != nil {
			return nil, readError(VHD, err, "footer", at)
		}
	}
	f, err := parseVHDFooter(fb[:], at)
	if err != nil {
		return nil, err
	}
	size, err := vhdSize(f)
	if err != nil {
		return nil, err
	}
	details := Details{Creator: strings.TrimRight(f.creator, " \x00")}
	switch f.diskType {
	case vhdFixed:
		if at != img.size-vhdFooterLen {
			return nil, errorf(ErrFormat, "vpc: fixed disk with its footer at %#x, not at the end of the file", at)
		}
		if size > at {
			return nil, errorf(ErrFormat, "vpc: fixed disk of %d bytes holds only %d", size, at)
		}
		details.Subformat = "fixed"
		return &rawDisk{r: img.r, f: img.f, size: size, format: VHD, details: details}, nil
	case vhdDynamic:
		details.Subformat = "dynamic"
		return openDynamicVHD(img, f, size, details)
	case vhdDifferencing:
		return nil, errorf(ErrUnsupported, "vpc: differencing disk (it records only changes to a parent disk); merge it into its parent with its own tools first")
	}
	return nil, errorf(ErrFormat, "vpc: unknown disk type %d", f.diskType)
}

func openDynamicVHD(img *image, f vhdFooter, size int64, details Details) (Disk, error) {
	be := binary.BigEndian
	if f.dataOffset > uint64(img.size-vhdDynHeaderLen) || img.size < vhdDynHeaderLen {
		return nil, errorf(ErrFormat, "vpc: dynamic disk header at %#x is past the end of the file (%d bytes)", f.dataOffset, img.size)
	}
	at := int64(f.dataOffset)
	var h [vhdDynHeaderLen]byte
	if _, err := img.r.ReadAt(h[:], at); err != nil {
		return nil, readError(VHD, err, "dynamic disk header", at)
	}
	if string(h[:8]) != vhdSparseMagic {
		return nil, errorf(ErrFormat, "vpc: no dynamic disk header (cookie %q) at %#x", h[:8], at)
	}
	if sum := vhdChecksum(h[:], 36); sum != be.Uint32(h[36:]) {
		return nil, errorf(ErrFormat, "vpc: dynamic disk header at %#x has checksum %#x, its bytes sum to %#x", at, be.Uint32(h[36:]), sum)
	}
	batOffset := be.Uint64(h[16:])
	entries := uint64(be.Uint32(h[28:]))
	blockSize := int64(be.Uint32(h[32:]))
	if blockSize < 512 || bits.OnesCount64(uint64(blockSize)) != 1 {
		return nil, errorf(ErrFormat, "vpc: block size %d is not a power of two of at least 512", blockSize)
	}
	need := uint64((size + blockSize - 1) / blockSize)
	switch {
	case entries < need:
		return nil, errorf(ErrFormat, "vpc: block allocation table of %d entries is too small for %d bytes", entries, size)
	case need*4 > vhdMaxBAT:
		return nil, errorf(ErrUnsupported, "vpc: block allocation table of %d entries is larger than %d MiB", need, vhdMaxBAT>>20)
	case batOffset > uint64(img.size) || need*4 > uint64(img.size)-batOffset:
		return nil, errorf(ErrFormat, "vpc: block allocation table at %#x, %d entries, is past the end of the file (%d bytes)", batOffset, need, img.size)
	}
	raw := make([]byte, need*4)
	if _, err := img.r.ReadAt(raw, int64(batOffset)); err != nil {
		return nil, readError(VHD, err, "block allocation table", int64(batOffset))
	}
	// Each block starts with a bitmap of its sectors, padded to a sector.
	// QEMU reads allocated blocks whole and ignores the bitmap (it marks
	// every sector present when it allocates a block); so does this
	// reader, so that the bytes match.
	bitmap := (blockSize/512/8 + 511) &^ 511
	bat := make([]int64, need)
	for i := range bat {
		e := be.Uint32(raw[4*i:])
		if e == vhdUnallocated {
			bat[i] = -1
			continue
		}
		bat[i] = int64(e)*512 + bitmap
		if end := bat[i] + blockSize; end > img.size {
			return nil, errorf(ErrFormat, "vpc: block %d at %#x ends at %#x, past the end of the file (%d bytes); the image is truncated",
				i, int64(e)*512, end, img.size)
		}
	}
	details.Unit, details.BlockSize = "block", blockSize
	return &tableDisk{
		r: img.r, fileSize: img.size, closer: img.closer(), format: VHD, details: details,
		size: size, blockSize: blockSize,
		locate: func(i int64) (cluster, error) {
			if bat[i] < 0 {
				return cluster{kind: unallocated}, nil
			}
			return cluster{kind: allocated, host: bat[i]}, nil
		},
	}, nil
}

// NewVHD reads the vhd image in r, which is size bytes long. The caller
// closes r after the Disk is no longer used.
func NewVHD(r io.ReaderAt, size int64) (Disk, error) {
	return openReader(r, size, VHD)
}
