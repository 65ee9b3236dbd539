package imagefmt

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// The vhdx writer makes a dynamic disk as Hyper-V and WSL take it: the
// header section, a 1 MiB log (empty), the metadata region at 2 MiB, the
// BAT at 3 MiB, then 1 MiB blocks in disk order. Small blocks keep a
// mostly empty filesystem small.

const (
	vhdxOutBlock      = 1 << 20
	vhdxOutSector     = 512
	vhdxOutPhysSector = 4096
	vhdxOutLogAt      = 1 * vhdxMB
	vhdxOutMetaAt     = 2 * vhdxMB
	vhdxOutBATAt      = 3 * vhdxMB
	vhdxCreator       = "coLinux NG coimage"
)

func writeVHDX(w *writer) error {
	size := w.src.Size()
	if size > 64<<40 {
		return fmt.Errorf("vhdx: %d bytes is more than the format's 64 TiB", size)
	}
	ext, err := w.src.Extents()
	if err != nil {
		return err
	}
	blocks := (size + vhdxOutBlock - 1) / vhdxOutBlock
	chunkRatio := int64(1<<23) * vhdxOutSector / vhdxOutBlock
	entries := blocks
	if blocks > 0 {
		entries += (blocks - 1) / chunkRatio
	}
	batLen := (entries*8 + vhdxMB - 1) / vhdxMB * vhdxMB
	bat := make([]byte, batLen)
	next := int64(vhdxOutBATAt) + batLen
	store := func(b *block) error {
		if err := w.writeAt(b.data, next); err != nil {
			return err
		}
		i := b.index + b.index/chunkRatio
		binary.LittleEndian.PutUint64(bat[8*i:], uint64(next)|vhdxFullyPresent)
		next += vhdxOutBlock
		return nil
	}
	if err := w.eachBlock(ext, vhdxOutBlock, nil, store); err != nil {
		return err
	}
	if err := w.writeAt(bat, vhdxOutBATAt); err != nil {
		return err
	}
	if err := w.writeAt(vhdxMetadata(size), vhdxOutMetaAt); err != nil {
		return err
	}
	head := vhdxHeaderSection(batLen)
	if err := w.writeAt(head, 0); err != nil {
		return err
	}
	// The file ends with the last block, or with the BAT when there is none.
	return w.dst.Truncate(next)
}

// vhdxHeaderSection builds the first MiB: the file type identifier, two
// headers and two region tables.
func vhdxHeaderSection(batLen int64) []byte {
	le := binary.LittleEndian
	b := make([]byte, vhdxMB)
	copy(b, vhdxMagic)
	for i, c := range utf16.Encode([]rune(vhdxCreator)) {
		le.PutUint16(b[8+2*i:], c)
	}
	var fileGUID, dataGUID [16]byte
	rand.Read(fileGUID[:])
	rand.Read(dataGUID[:])
	for seq, at := range []int{64 << 10, 128 << 10} {
		h := b[at : at+vhdxHeaderSize]
		copy(h, "head")
		le.PutUint64(h[8:], uint64(seq+1))
		copy(h[16:], fileGUID[:])
		copy(h[32:], dataGUID[:])
		le.PutUint16(h[66:], 1) // version
		le.PutUint32(h[68:], vhdxMB)
		le.PutUint64(h[72:], vhdxOutLogAt)
		le.PutUint32(h[4:], crc32cWithout(h))
	}
	for _, at := range []int{192 << 10, 256 << 10} {
		r := b[at : at+vhdxRegionSize]
		copy(r, "regi")
		le.PutUint32(r[8:], 2)
		for i, reg := range []struct {
			id    [16]byte
			at, n int64
		}{{vhdxBATRegion, vhdxOutBATAt, batLen}, {vhdxMetadataRegion, vhdxOutMetaAt, vhdxMB}} {
			e := r[16+32*i:]
			copy(e, reg.id[:])
			le.PutUint64(e[16:], uint64(reg.at))
			le.PutUint32(e[24:], uint32(reg.n))
			le.PutUint32(e[28:], 1) // required
		}
		le.PutUint32(r[4:], crc32cWithout(r))
	}
	return b
}

// vhdxMetadata builds the metadata region: the table and its five items.
func vhdxMetadata(size int64) []byte {
	le := binary.LittleEndian
	m := make([]byte, vhdxMB)
	copy(m, "metadata")
	var diskID [16]byte
	rand.Read(diskID[:])
	const (
		isVirtualDisk = 2
		isRequired    = 4
	)
	items := []struct {
		id    [16]byte
		value []byte
		flags uint32
	}{
		{vhdxFileParameters, le.AppendUint32(le.AppendUint32(nil, vhdxOutBlock), 0), isRequired},
		{vhdxVirtualDiskSize, le.AppendUint64(nil, uint64(size)), isVirtualDisk | isRequired},
		{vhdxVirtualDiskID, diskID[:], isVirtualDisk | isRequired},
		{vhdxLogicalSectorSize, le.AppendUint32(nil, vhdxOutSector), isVirtualDisk | isRequired},
		{vhdxPhysSectorSize, le.AppendUint32(nil, vhdxOutPhysSector), isVirtualDisk | isRequired},
	}
	le.PutUint16(m[10:], uint16(len(items)))
	at := vhdxRegionSize // items follow the 64 KiB table
	for i, it := range items {
		e := m[32+32*i:]
		copy(e, it.id[:])
		le.PutUint32(e[16:], uint32(at))
		le.PutUint32(e[20:], uint32(len(it.value)))
		le.PutUint32(e[24:], it.flags)
		copy(m[at:], it.value)
		at += len(it.value)
	}
	return m
}
