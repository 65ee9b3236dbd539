package imagefmt

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"strings"
	"unicode/utf16"
)

// The vhdx layout follows Microsoft's [MS-VHDX] 1.0: a file type
// identifier, two headers, two region tables pointing at the block
// allocation table (BAT) and the metadata region, and a log that must be
// replayed before the rest can be trusted. Replay happens in memory
// (vhdx_log.go); the image file is never written.

const (
	vhdxMagic       = "vhdxfile"
	vhdxHeaderSize  = 4 << 10
	vhdxRegionSize  = 64 << 10
	vhdxMaxRegions  = 2047
	vhdxMaxMetadata = 2047
	vhdxMB          = 1 << 20

	// BAT entry states.
	vhdxNotPresent       = 0
	vhdxUndefined        = 1
	vhdxZero             = 2
	vhdxUnmapped         = 3
	vhdxUnmappedV095     = 5 // an older spelling of unmapped that QEMU accepts
	vhdxFullyPresent     = 6
	vhdxPartiallyPresent = 7 // differencing disks only

	// vhdxMaxBAT bounds the BAT kept in memory (8 M blocks).
	vhdxMaxBAT = 64 << 20
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	vhdxBATRegion      = vhdxGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	vhdxMetadataRegion = vhdxGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")

	vhdxFileParameters    = vhdxGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	vhdxVirtualDiskSize   = vhdxGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	vhdxVirtualDiskID     = vhdxGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	vhdxLogicalSectorSize = vhdxGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	vhdxPhysSectorSize    = vhdxGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
	vhdxParentLocator     = vhdxGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
)

// vhdxGUID turns a GUID's text form into its on-disk bytes: the first
// three groups little-endian, the rest as written.
func vhdxGUID(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID " + s)
	}
	var g [16]byte
	copy(g[:], []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]})
	copy(g[8:], b[8:])
	return g
}

func probeVHDX(head []byte, _ io.ReaderAt, _ int64) bool {
	return bytes.HasPrefix(head, []byte(vhdxMagic))
}

// crc32cWithout is the CRC-32C of b with the four checksum bytes at 4
// taken as zeros, as every vhdx structure is summed.
func crc32cWithout(b []byte) uint32 {
	sum := crc32.Update(0, castagnoli, b[:4])
	sum = crc32.Update(sum, castagnoli, []byte{0, 0, 0, 0})
	return crc32.Update(sum, castagnoli, b[8:])
}

// vhdxHeader holds the header fields the reader uses.
type vhdxHeader struct {
	seq       uint64
	logGUID   [16]byte
	logLength uint32
	logOffset uint64
}

// readVHDXHeader reads the header at at; the error says why it is not valid.
func readVHDXHeader(r io.ReaderAt, at int64) (vhdxHeader, error) {
	var b [vhdxHeaderSize]byte
	if _, err := r.ReadAt(b[:], at); err != nil {
		return vhdxHeader{}, readError(VHDX, err, "header", at)
	}
	le := binary.LittleEndian
	switch {
	case string(b[:4]) != "head":
		return vhdxHeader{}, errorf(ErrFormat, "vhdx: no header signature at %#x", at)
	case crc32cWithout(b[:]) != le.Uint32(b[4:]):
		return vhdxHeader{}, errorf(ErrFormat, "vhdx: header at %#x fails its CRC-32C", at)
	case le.Uint16(b[64:]) != 0 || le.Uint16(b[66:]) != 1:
		return vhdxHeader{}, errorf(ErrUnsupported, "vhdx: header at %#x has log version %d, version %d", at, le.Uint16(b[64:]), le.Uint16(b[66:]))
	}
	h := vhdxHeader{seq: le.Uint64(b[8:]), logLength: le.Uint32(b[68:]), logOffset: le.Uint64(b[72:])}
	copy(h.logGUID[:], b[48:64])
	return h, nil
}

// currentVHDXHeader picks the valid header with the higher sequence number.
func currentVHDXHeader(r io.ReaderAt) (vhdxHeader, error) {
	h1, err1 := readVHDXHeader(r, 64<<10)
	h2, err2 := readVHDXHeader(r, 128<<10)
	switch {
	case err1 != nil && err2 != nil:
		return vhdxHeader{}, fmt.Errorf("%w; and %w", err1, err2)
	case err2 != nil:
		return h1, nil
	case err1 != nil:
		return h2, nil
	case h1.seq == h2.seq:
		return vhdxHeader{}, errorf(ErrFormat, "vhdx: both headers have sequence number %d", h1.seq)
	case h1.seq > h2.seq:
		return h1, nil
	}
	return h2, nil
}

// vhdxRegion is a region table entry.
type vhdxRegion struct {
	offset, length int64
}

// readVHDXRegions reads the first valid region table and returns the BAT
// and metadata regions.
func readVHDXRegions(r io.ReaderAt, size int64) (bat, meta vhdxRegion, err error) {
	var firstErr error
	for _, at := range []int64{192 << 10, 256 << 10} {
		bat, meta, err = readVHDXRegionTable(r, size, at)
		if err == nil {
			return bat, meta, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return bat, meta, firstErr
}

func readVHDXRegionTable(r io.ReaderAt, size, at int64) (bat, meta vhdxRegion, err error) {
	b := make([]byte, vhdxRegionSize)
	if _, err := r.ReadAt(b, at); err != nil {
		return bat, meta, readError(VHDX, err, "region table", at)
	}
	le := binary.LittleEndian
	switch {
	case string(b[:4]) != "regi":
		return bat, meta, errorf(ErrFormat, "vhdx: no region table signature at %#x", at)
	case crc32cWithout(b) != le.Uint32(b[4:]):
		return bat, meta, errorf(ErrFormat, "vhdx: region table at %#x fails its CRC-32C", at)
	}
	n := le.Uint32(b[8:])
	if n > vhdxMaxRegions {
		return bat, meta, errorf(ErrFormat, "vhdx: region table at %#x has %d entries (at most %d)", at, n, vhdxMaxRegions)
	}
	for i := range int(n) {
		e := b[16+32*i:]
		var id [16]byte
		copy(id[:], e)
		reg := vhdxRegion{offset: int64(le.Uint64(e[16:]) & (1<<62 - 1)), length: int64(le.Uint32(e[24:]))}
		if reg.offset%vhdxMB != 0 || reg.offset < vhdxMB || reg.length%vhdxMB != 0 || reg.offset > size-reg.length {
			return bat, meta, errorf(ErrFormat, "vhdx: region %d at %#x, %d bytes, is unaligned or outside the file (%d bytes)", i, reg.offset, reg.length, size)
		}
		switch {
		case id == vhdxBATRegion:
			bat = reg
		case id == vhdxMetadataRegion:
			meta = reg
		case le.Uint32(e[28:])&1 != 0:
			return bat, meta, errorf(ErrUnsupported, "vhdx: unknown required region %x", id)
		}
	}
	if bat.length == 0 || meta.length == 0 {
		return bat, meta, errorf(ErrFormat, "vhdx: region table at %#x lacks the BAT or the metadata region", at)
	}
	return bat, meta, nil
}

// vhdxMeta holds the metadata items the reader uses.
type vhdxMeta struct {
	blockSize  int64
	fixed      bool // LeaveBlocksAllocated
	parent     bool
	size       int64
	sectorSize int64
}

func readVHDXMetadata(r io.ReaderAt, reg vhdxRegion) (vhdxMeta, error) {
	var m vhdxMeta
	b := make([]byte, vhdxRegionSize)
	if _, err := r.ReadAt(b, reg.offset); err != nil {
		return m, readError(VHDX, err, "metadata table", reg.offset)
	}
	le := binary.LittleEndian
	if string(b[:8]) != "metadata" {
		return m, errorf(ErrFormat, "vhdx: no metadata table signature at %#x", reg.offset)
	}
	n := int(le.Uint16(b[10:]))
	if n > vhdxMaxMetadata {
		return m, errorf(ErrFormat, "vhdx: metadata table has %d entries (at most %d)", n, vhdxMaxMetadata)
	}
	found := map[[16]byte][]byte{}
	for i := range n {
		e := b[32+32*i:]
		var id [16]byte
		copy(id[:], e)
		off, length, flags := int64(le.Uint32(e[16:])), int64(le.Uint32(e[20:])), le.Uint32(e[24:])
		if length > 0 && (off < vhdxRegionSize || off > reg.length-length) {
			return m, errorf(ErrFormat, "vhdx: metadata item %x at %#x, %d bytes, lies outside the metadata region", id, off, length)
		}
		if length > 1<<20 {
			return m, errorf(ErrFormat, "vhdx: metadata item %x of %d bytes", id, length)
		}
		switch id {
		case vhdxFileParameters, vhdxVirtualDiskSize, vhdxLogicalSectorSize:
			item := make([]byte, length)
			if _, err := r.ReadAt(item, reg.offset+off); err != nil {
				return m, readError(VHDX, err, "metadata item", reg.offset+off)
			}
			found[id] = item
		case vhdxVirtualDiskID, vhdxPhysSectorSize, vhdxParentLocator:
		default:
			if flags&4 != 0 {
				return m, errorf(ErrUnsupported, "vhdx: unknown required metadata item %x", id)
			}
		}
	}
	fp, size, lss := found[vhdxFileParameters], found[vhdxVirtualDiskSize], found[vhdxLogicalSectorSize]
	if len(fp) < 8 || len(size) < 8 || len(lss) < 4 {
		return m, errorf(ErrFormat, "vhdx: metadata lacks the file parameters, virtual disk size or logical sector size")
	}
	m.blockSize = int64(le.Uint32(fp))
	m.fixed, m.parent = le.Uint32(fp[4:])&1 != 0, le.Uint32(fp[4:])&2 != 0
	m.size = int64(le.Uint64(size) & (1<<63 - 1))
	m.sectorSize = int64(le.Uint32(lss))
	switch {
	case m.blockSize < vhdxMB || m.blockSize > 256*vhdxMB || bits.OnesCount64(uint64(m.blockSize)) != 1:
		return m, errorf(ErrFormat, "vhdx: block size %d is not a power of two from 1 to 256 MiB", m.blockSize)
	case m.sectorSize != 512 && m.sectorSize != 4096:
		return m, errorf(ErrFormat, "vhdx: logical sector size %d (512 or 4096)", m.sectorSize)
	case m.size > 64<<40 || m.size%m.sectorSize != 0:
		return m, errorf(ErrFormat, "vhdx: virtual size %d is over 64 TiB or not whole sectors", m.size)
	}
	return m, nil
}

func openVHDX(img *image) (Disk, error) {
	var id [512]byte
	if _, err := img.r.ReadAt(id[:], 0); err != nil {
		return nil, readError(VHDX, err, "file type identifier", 0)
	}
	if img.size < 1*vhdxMB {
		return nil, errorf(ErrFormat, "vhdx: file of %d bytes is shorter than its header section", img.size)
	}
	h, err := currentVHDXHeader(img.r)
	if err != nil {
		return nil, err
	}
	r, size := img.r, img.size
	details := Details{Creator: utf16String(id[8:]), Unit: "block"}
	if h.logGUID != [16]byte{} {
		o, err := replayVHDXLog(img.r, img.size, h)
		if err != nil {
			return nil, err
		}
		if o != nil {
			r, size, details.LogReplayed = o, o.size, true
		}
	}
	batReg, metaReg, err := readVHDXRegions(r, size)
	if err != nil {
		return nil, err
	}
	m, err := readVHDXMetadata(r, metaReg)
	if err != nil {
		return nil, err
	}
	if m.parent {
		return nil, errorf(ErrUnsupported, "vhdx: differencing disk (it records only changes to a parent disk); merge it into its parent first")
	}
	details.BlockSize, details.SectorSize, details.Subformat = m.blockSize, int(m.sectorSize), "dynamic"
	if m.fixed {
		details.Subformat = "fixed"
	}
	// Every chunkRatio payload blocks are followed in the BAT by the
	// entry of their sector bitmap block, which only differencing disks use.
	chunkRatio := (int64(1) << 23) * m.sectorSize / m.blockSize
	blocks := (m.size + m.blockSize - 1) / m.blockSize
	entries := blocks
	if blocks > 0 {
		entries += (blocks - 1) / chunkRatio
	}
	switch {
	case entries*8 > vhdxMaxBAT:
		return nil, errorf(ErrUnsupported, "vhdx: BAT of %d entries is larger than %d MiB", entries, vhdxMaxBAT>>20)
	case entries*8 > batReg.length:
		return nil, errorf(ErrFormat, "vhdx: BAT region of %d bytes is too small for %d entries", batReg.length, entries)
	}
	raw := make([]byte, entries*8)
	if _, err := r.ReadAt(raw, batReg.offset); err != nil {
		return nil, readError(VHDX, err, "BAT", batReg.offset)
	}
	bat := make([]int64, blocks) // host offset, or -1 for zeros
	for i := range bat {
		e := binary.LittleEndian.Uint64(raw[8*(int64(i)+int64(i)/chunkRatio):])
		switch state := e & 7; state {
		case vhdxNotPresent, vhdxUndefined, vhdxZero, vhdxUnmapped, vhdxUnmappedV095:
			bat[i] = -1
		case vhdxFullyPresent:
			host := int64(e >> 20 << 20)
			blockLen := min(m.blockSize, m.size-int64(i)*m.blockSize)
			if host < vhdxMB || host > size-blockLen {
				return nil, errorf(ErrFormat, "vhdx: BAT entry for block %d points to %#x, outside the file (%d bytes); the image is truncated or damaged", i, host, size)
			}
			bat[i] = host
		case vhdxPartiallyPresent:
			return nil, errorf(ErrUnsupported, "vhdx: block %d is partially present, which only differencing disks use", i)
		default:
			return nil, errorf(ErrFormat, "vhdx: BAT entry for block %d has unknown state %d", i, state)
		}
	}
	return &tableDisk{
		r: r, fileSize: size, closer: img.closer(), format: VHDX, details: details,
		size: m.size, blockSize: m.blockSize,
		locate: func(i int64) (cluster, error) {
			if bat[i] < 0 {
				return cluster{kind: unallocated}, nil
			}
			return cluster{kind: allocated, host: bat[i]}, nil
		},
	}, nil
}

// utf16String decodes a NUL-terminated little-endian UTF-16 string.
func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// NewVHDX reads the vhdx image in r, which is size bytes long. A dirty log
// is replayed in memory; r is only read. The caller closes r after the
// Disk is no longer used.
func NewVHDX(r io.ReaderAt, size int64) (Disk, error) {
	return openReader(r, size, VHDX)
}
