package qemuconv

import (
	"encoding/binary"
	"fmt"
	"io"
)

// maxEBRs bounds the extended chain; Linux stops at 256 partitions too.
const maxEBRs = 256

// mbrEntry is one of the four 16-byte entries of an MBR or EBR.
type mbrEntry struct {
	boot, typ byte
	start     uint32 // first sector, relative to the base the table defines
	sectors   uint32
}

// used reports whether the entry describes anything, as fdisk decides it.
func (e mbrEntry) used() bool { return e.typ != 0 && e.sectors != 0 }

// extended reports whether the entry is an extended-partition container.
func (e mbrEntry) extended() bool { return e.typ == 0x05 || e.typ == 0x0f || e.typ == 0x85 }

// parseMBR decodes the entries of an MBR or EBR sector and reports whether
// the sector carries the 0x55AA signature.
func parseMBR(sector []byte) (e [4]mbrEntry, ok bool) {
	if len(sector) < sectorSize || sector[510] != 0x55 || sector[511] != 0xAA {
		return e, false
	}
	for i := range e {
		b := sector[446+16*i:]
		e[i] = mbrEntry{
			boot:    b[0],
			typ:     b[4],
			start:   binary.LittleEndian.Uint32(b[8:]),
			sectors: binary.LittleEndian.Uint32(b[12:]),
		}
	}
	return e, true
}

// plausibleBootFlags tells an MBR from a FAT boot sector, which also ends
// in 0x55AA: as in the Linux kernel, every boot flag must be 0 or 0x80.
func plausibleBootFlags(e [4]mbrEntry) bool {
	for _, x := range e {
		if x.boot != 0 && x.boot != 0x80 {
			return false
		}
	}
	return true
}

// hasProtective reports whether any entry is a GPT protective (0xEE) one.
// A hybrid MBR has other entries too; Linux then reads the GPT, and so do we.
func hasProtective(e [4]mbrEntry) bool {
	for _, x := range e {
		if x.typ == 0xEE {
			return true
		}
	}
	return false
}

// readMBR fills t from the primary entries of sector 0 and, when there is
// an extended partition, its chain of EBRs.
func readMBR(r io.ReaderAt, size int64, primaries [4]mbrEntry, t *Table) error {
	var ext *mbrEntry
	for i, e := range primaries {
		switch {
		case !e.used():
		case e.extended() && ext != nil:
			t.Warnings = append(t.Warnings, fmt.Sprintf("second extended partition %d ignored", i+1))
		case e.extended():
			if _, err := mbrPartition(i+1, 0, e, size); err != nil {
				return err
			}
			ext = &primaries[i]
		default:
			p, err := mbrPartition(i+1, 0, e, size)
			if err != nil {
				return err
			}
			t.Partitions = append(t.Partitions, p)
		}
	}
	if ext == nil {
		return nil
	}
	logicals, err := readLogicals(r, size, int64(ext.start))
	t.Partitions = append(t.Partitions, logicals...)
	return err
}

// readLogicals walks the EBR chain of the extended partition starting at
// sector extStart. In each EBR the data entry is relative to the EBR
// itself and the link to the next EBR is relative to extStart. Like Linux,
// every used non-extended entry of an EBR is a logical partition, and the
// chain ends at an EBR without the 0x55AA signature or without a link.
func readLogicals(r io.ReaderAt, size, extStart int64) ([]Partition, error) {
	var parts []Partition
	seen := make(map[int64]bool)
	number := 5
	for ebr := extStart; ; {
		if seen[ebr] {
			return nil, fmt.Errorf("%w: extended partition chain loops back to the EBR at sector %d", ErrTable, ebr)
		}
		if len(seen) == maxEBRs {
			return nil, fmt.Errorf("%w: extended partition chain longer than %d EBRs", ErrTable, maxEBRs)
		}
		seen[ebr] = true
		var sector [sectorSize]byte
		if !readAt(r, sector[:], ebr*sectorSize, size) {
			return nil, fmt.Errorf("%w: EBR at sector %d lies beyond the disk end", ErrTable, ebr)
		}
		entries, ok := parseMBR(sector[:])
		if !ok {
			return parts, nil
		}
		next := int64(-1)
		for _, e := range entries {
			switch {
			case !e.used():
			case e.extended():
				if next < 0 {
					next = extStart + int64(e.start)
				}
			default:
				p, err := mbrPartition(number, ebr, e, size)
				if err != nil {
					return nil, err
				}
				parts = append(parts, p)
				number++
			}
		}
		if next < 0 {
			return parts, nil
		}
		ebr = next
	}
}

// mbrPartition turns an entry relative to sector base into a Partition,
// failing when it does not fit a disk of size bytes.
func mbrPartition(number int, base int64, e mbrEntry, size int64) (Partition, error) {
	start := base + int64(e.start)
	end := start + int64(e.sectors)
	if end > size/sectorSize {
		return Partition{}, fmt.Errorf("%w: partition %d (sectors %d-%d) ends beyond the disk end at sector %d",
			ErrTable, number, start, end-1, size/sectorSize)
	}
	typ := fmt.Sprintf("0x%02x", e.typ)
	return Partition{
		Number:   number,
		Start:    start * sectorSize,
		Size:     int64(e.sectors) * sectorSize,
		Type:     typ,
		TypeName: mbrTypeNames[e.typ],
	}, nil
}

// mbrTypeNames are fdisk's names for the MBR types likely on a Linux disk.
var mbrTypeNames = map[byte]string{
	0x01: "FAT12",
	0x04: "FAT16 <32M",
	0x05: "Extended",
	0x06: "FAT16",
	0x07: "HPFS/NTFS/exFAT",
	0x0b: "W95 FAT32",
	0x0c: "W95 FAT32 (LBA)",
	0x0e: "W95 FAT16 (LBA)",
	0x0f: "W95 Ext'd (LBA)",
	0x82: "Linux swap / Solaris",
	0x83: "Linux",
	0x85: "Linux extended",
	0x8e: "Linux LVM",
	0xa5: "FreeBSD",
	0xee: "GPT",
	0xef: "EFI (FAT-12/16/32)",
	0xfd: "Linux raid autodetect",
}
