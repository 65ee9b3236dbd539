package imagefmt

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// The vdi writer makes a dynamic image as VirtualBox does: header, block
// map, and 1 MiB blocks from the next MiB boundary on, in disk order.

const vdiOutBlock = 1 << 20

func writeVDI(w *writer) error {
	size := w.src.Size()
	blocks := (size + vdiOutBlock - 1) / vdiOutBlock
	if blocks >= vdiZero {
		return fmt.Errorf("vdi: %d bytes need more blocks than the format counts", size)
	}
	ext, err := w.src.Extents()
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	const mapAt = 0x200
	dataAt := (mapAt + blocks*4 + vdiOutBlock - 1) / vdiOutBlock * vdiOutBlock
	bmap := make([]byte, blocks*4)
	for i := range blocks {
		le.PutUint32(bmap[4*i:], vdiFree)
	}
	var allocated uint32
	store := func(b *block) error {
		if err := w.writeAt(b.data, dataAt+int64(allocated)*vdiOutBlock); err != nil {
			return err
		}
		le.PutUint32(bmap[4*b.index:], allocated)
		allocated++
		return nil
	}
	if err := w.eachBlock(ext, vdiOutBlock, nil, store); err != nil {
		return err
	}
	h := make([]byte, mapAt)
	copy(h, "<<< Oracle VM VirtualBox Disk Image >>>\n")
	le.PutUint32(h[0x40:], vdiSignature)
	le.PutUint32(h[0x44:], vdiVersion)
	le.PutUint32(h[0x48:], 0x190) // the size of a version 1.1 header
	le.PutUint32(h[0x4c:], vdiDynamic)
	le.PutUint32(h[0x154:], mapAt)
	le.PutUint32(h[0x158:], uint32(dataAt))
	le.PutUint32(h[0x168:], 512) // legacy geometry's sector size
	le.PutUint64(h[0x170:], uint64(size))
	le.PutUint32(h[0x178:], vdiOutBlock)
	le.PutUint32(h[0x180:], uint32(blocks))
	le.PutUint32(h[0x184:], allocated)
	rand.Read(h[0x188:0x198]) // creation UUID
	rand.Read(h[0x198:0x1a8]) // modification UUID
	if err := w.writeAt(bmap, mapAt); err != nil {
		return err
	}
	if err := w.writeAt(h, 0); err != nil {
		return err
	}
	return w.dst.Truncate(max(dataAt, dataAt+int64(allocated)*vdiOutBlock))
}
