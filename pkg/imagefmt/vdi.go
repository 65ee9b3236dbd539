package imagefmt

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
	"strings"
)

// The vdi layout follows VirtualBox's VDICore.h (header version 1.1), as
// QEMU's block/vdi.c reads it.

const (
	vdiSignature = 0xbeda107f
	vdiVersion   = 0x00010001
	vdiHeaderLen = 0x200

	vdiDynamic = 1
	vdiStatic  = 2

	vdiFree = 0xffffffff // block not allocated: reads as zeros
	vdiZero = 0xfffffffe // block discarded: reads as zeros

	// vdiMaxBlockMap bounds the block map kept in memory.
	vdiMaxBlockMap = 64 << 20
)

func probeVDI(head []byte, _ io.ReaderAt, _ int64) bool {
	return len(head) >= 0x44 && binary.LittleEndian.Uint32(head[0x40:]) == vdiSignature
}

func openVDI(img *image) (Disk, error) {
	le := binary.LittleEndian
	var h [vdiHeaderLen]byte
	if _, err := img.r.ReadAt(h[:], 0); err != nil {
		return nil, readError(VDI, err, "header", 0)
	}
	if v := le.Uint32(h[0x44:]); v != vdiVersion {
		return nil, errorf(ErrUnsupported, "vdi: header version %d.%d (only 1.1 is read)", v>>16, v&0xffff)
	}
	var (
		imageType  = le.Uint32(h[0x4c:])
		mapOffset  = int64(le.Uint32(h[0x154:]))
		dataOffset = int64(le.Uint32(h[0x158:]))
		sectorSize = le.Uint32(h[0x168:])
		diskSize   = le.Uint64(h[0x170:])
		blockSize  = int64(le.Uint32(h[0x178:]))
		blockExtra = int64(le.Uint32(h[0x17c:]))
		blocks     = int64(le.Uint32(h[0x180:]))
	)
	details := Details{Creator: strings.Trim(strings.TrimRight(string(h[:0x40]), "\x00\n"), "<> "), Unit: "block", BlockSize: blockSize}
	switch imageType {
	case vdiDynamic:
		details.Subformat = "dynamic"
	case vdiStatic:
		details.Subformat = "static"
	case 4:
		return nil, errorf(ErrUnsupported, "vdi: differencing image (it records only changes to a parent image)")
	default:
		return nil, errorf(ErrUnsupported, "vdi: image type %d", imageType)
	}
	if !bytes.Equal(h[0x1a8:0x1c8], make([]byte, 32)) {
		return nil, errorf(ErrUnsupported, "vdi: the image names a parent (non-null link or parent UUID); merge it with VirtualBox first")
	}
	switch {
	case sectorSize != 512:
		return nil, errorf(ErrUnsupported, "vdi: sector size %d", sectorSize)
	case blockSize < 512 || blockSize > 256<<20 || bits.OnesCount64(uint64(blockSize)) != 1:
		return nil, errorf(ErrFormat, "vdi: block size %d is not a power of two between 512 bytes and 256 MiB", blockSize)
	case blockExtra > 1<<20:
		return nil, errorf(ErrFormat, "vdi: %d extra bytes per block", blockExtra)
	case diskSize > uint64(blocks)*uint64(blockSize):
		return nil, errorf(ErrFormat, "vdi: disk size %d is larger than its %d blocks of %d bytes", diskSize, blocks, blockSize)
	case blocks*4 > vdiMaxBlockMap:
		return nil, errorf(ErrUnsupported, "vdi: block map of %d entries is larger than %d MiB", blocks, vdiMaxBlockMap>>20)
	case mapOffset < 0x180 || mapOffset > img.size-blocks*4:
		return nil, errorf(ErrFormat, "vdi: block map at %#x, %d entries, lies outside the file (%d bytes)", mapOffset, blocks, img.size)
	case dataOffset < mapOffset+blocks*4:
		return nil, errorf(ErrFormat, "vdi: data at %#x overlaps the block map at %#x", dataOffset, mapOffset)
	}
	raw := make([]byte, blocks*4)
	if _, err := img.r.ReadAt(raw, mapOffset); err != nil {
		return nil, readError(VDI, err, "block map", mapOffset)
	}
	size := int64(diskSize) &^ 511 // QEMU counts whole sectors
	stride := blockSize + blockExtra
	return &tableDisk{
		r: img.r, fileSize: img.size, closer: img.closer(), format: VDI, details: details,
		size: size, blockSize: blockSize,
		locate: func(i int64) (cluster, error) {
			e := le.Uint32(raw[4*i:])
			switch {
			case e == vdiFree || e == vdiZero:
				return cluster{kind: unallocated}, nil
			case int64(e) >= blocks:
				return cluster{}, errorf(ErrFormat, "vdi: block map entry %d points to block %d of %d", i, e, blocks)
			}
			return cluster{kind: allocated, host: dataOffset + int64(e)*stride + blockExtra}, nil
		},
	}, nil
}

// NewVDI reads the vdi image in r, which is size bytes long. The caller
// closes r after the Disk is no longer used.
func NewVDI(r io.ReaderAt, size int64) (Disk, error) {
	return openReader(r, size, VDI)
}
