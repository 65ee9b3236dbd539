package imagefmt

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// The vmdk writer makes a streamOptimized file as VMware writes one for
// OVF: the header (its grain directory "at the end"), the descriptor, then
// in disk order each non-empty grain deflated behind a grain marker, each
// grain table behind a marker after the grains it covers, the grain
// directory, a footer holding the header again with the directory's place,
// and the end-of-stream marker. VirtualBox, VMware and QEMU read it.

const (
	vmdkOutGrain      = 64 << 10
	vmdkOutGTEs       = 512
	vmdkOutDescSects  = 20
	vmdkOutOverhead   = 128 // sectors before the first grain
	vmdkMarkerGT      = 1
	vmdkMarkerGD      = 2
	vmdkFlagsStream   = vmdkFlagNewlineTest | vmdkFlagCompressed | vmdkFlagMarkers
	vmdkGrainSectors  = vmdkOutGrain / 512
	vmdkSectorsPerGT  = vmdkOutGTEs * vmdkGrainSectors
	vmdkGTSectors     = vmdkOutGTEs * 4 / 512
	vmdkStreamVersion = 3
)

func writeVMDK(w *writer, name string) error {
	size := w.src.Size()
	capacity := size / 512
	if name == "" {
		name = "disk.vmdk"
	}
	if strings.ContainsAny(name, "\"\n\r") {
		return fmt.Errorf("vmdk: the file name %q cannot be recorded in a descriptor", name)
	}
	desc := vmdkStreamDescriptor(capacity, name)
	if len(desc) > vmdkOutDescSects*512 {
		return fmt.Errorf("vmdk: descriptor of %d bytes does not fit", len(desc))
	}
	ext, err := w.src.Extents()
	if err != nil {
		return err
	}
	gtCount := (capacity + vmdkSectorsPerGT - 1) / vmdkSectorsPerGT
	if gtCount*4 > vmdkMaxGD {
		return fmt.Errorf("vmdk: %d bytes need a grain directory larger than %d MiB", size, vmdkMaxGD>>20)
	}
	s := &vmdkStream{w: w, at: vmdkOutOverhead * 512, gd: make([]uint32, gtCount)}
	head := vmdkStreamHeader(capacity, vmdkGDAtEnd)
	if err := w.writeAt(head, 0); err != nil {
		return err
	}
	if err := w.writeAt(desc, 512); err != nil {
		return err
	}
	if err := w.eachBlock(ext, vmdkOutGrain, deflateGrain, s.store); err != nil {
		return err
	}
	if err := s.tablesUpTo(gtCount); err != nil {
		return err
	}
	// The grain directory, the footer and the end of the stream.
	gdSector := s.at/512 + 1
	gdSectors := (gtCount*4 + 511) / 512
	gd := make([]byte, gdSectors*512)
	for i, e := range s.gd {
		binary.LittleEndian.PutUint32(gd[4*i:], e)
	}
	tail := append(vmdkMarker(uint64(gdSectors), vmdkMarkerGD), gd...)
	tail = append(tail, vmdkMarker(1, vmdkMarkerFooter)...)
	tail = append(tail, vmdkStreamHeader(capacity, uint64(gdSector))...)
	tail = append(tail, make([]byte, 512)...) // end-of-stream marker: all zeros
	return w.writeAt(tail, s.at)
}

// vmdkStream is a streamOptimized file being written.
type vmdkStream struct {
	w     *writer
	at    int64    // where the next marker goes
	gt    []uint32 // the grain table being filled
	gtOf  int64    // its index
	gd    []uint32
	gtEnd int64 // grain tables before this index are written
}

// store appends a grain behind its marker, first writing the grain
// tables of the ranges before it.
func (s *vmdkStream) store(b *block) error {
	lba := b.index * vmdkGrainSectors
	if err := s.tablesUpTo(lba / vmdkSectorsPerGT); err != nil {
		return err
	}
	if s.gt == nil {
		s.gt, s.gtOf = make([]uint32, vmdkOutGTEs), lba/vmdkSectorsPerGT
	}
	s.gt[b.index%vmdkOutGTEs] = uint32(s.at / 512)
	rec := make([]byte, (12+len(b.out)+511)&^511)
	binary.LittleEndian.PutUint64(rec, uint64(lba))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(b.out)))
	copy(rec[12:], b.out)
	if err := s.w.writeAt(rec, s.at); err != nil {
		return err
	}
	s.at += int64(len(rec))
	return nil
}

// tablesUpTo writes, behind their markers, the grain tables of every range
// before index end that is not written yet, empty ones included: some
// readers expect a table for each directory entry.
func (s *vmdkStream) tablesUpTo(end int64) error {
	for ; s.gtEnd < end; s.gtEnd++ {
		gt := make([]byte, vmdkGTSectors*512)
		if s.gt != nil && s.gtOf == s.gtEnd {
			for i, e := range s.gt {
				binary.LittleEndian.PutUint32(gt[4*i:], e)
			}
			s.gt = nil
		}
		rec := append(vmdkMarker(vmdkGTSectors, vmdkMarkerGT), gt...)
		s.gd[s.gtEnd] = uint32(s.at/512 + 1)
		if err := s.w.writeAt(rec, s.at); err != nil {
			return err
		}
		s.at += int64(len(rec))
	}
	return nil
}

// vmdkMarker is a metadata marker sector: the size of what follows in
// sectors, a zero size field, and the type.
func vmdkMarker(sectors uint64, typ uint32) []byte {
	m := make([]byte, 512)
	binary.LittleEndian.PutUint64(m, sectors)
	binary.LittleEndian.PutUint32(m[12:], typ)
	return m
}

func vmdkStreamHeader(capacity int64, gdOffset uint64) []byte {
	h := make([]byte, 512)
	le := binary.LittleEndian
	copy(h, vmdkMagic)
	le.PutUint32(h[4:], vmdkStreamVersion)
	le.PutUint32(h[8:], vmdkFlagsStream)
	le.PutUint64(h[12:], uint64(capacity))
	le.PutUint64(h[20:], vmdkGrainSectors)
	le.PutUint64(h[28:], 1)
	le.PutUint64(h[36:], vmdkOutDescSects)
	le.PutUint32(h[44:], vmdkOutGTEs)
	le.PutUint64(h[56:], gdOffset)
	le.PutUint64(h[64:], vmdkOutOverhead)
	copy(h[73:], "\n \r\n")
	le.PutUint16(h[77:], 1) // deflate
	return h
}

// vmdkStreamDescriptor is the embedded descriptor, padded to its sectors.
func vmdkStreamDescriptor(capacity int64, name string) []byte {
	var cid [4]byte
	rand.Read(cid[:])
	// The geometry VMware records for IDE disks: 16 heads, 63 sectors.
	cylinders := min(capacity/(16*63), 16383)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nCID=%x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", cid)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE \"%s\"\n\n", capacity, name)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"16\"\nddb.geometry.sectors = \"63\"\nddb.adapterType = \"ide\"\n", cylinders)
	out := make([]byte, vmdkOutDescSects*512)
	if b.Len() > len(out) {
		return b.Bytes()
	}
	copy(out, b.Bytes())
	return out
}

var zlibWriters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}

// deflateGrain compresses a grain as vmdk grains are: zlib.
func deflateGrain(b *block) error { return compressWith(&zlibWriters, b) }
