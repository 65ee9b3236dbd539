package qemuconv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// GPT entry-array limits enforced before go-diskfs reads a header's array.
const (
	gptEntrySize = 128
	// maxGPTEntries keeps the array at 2 MiB; tables in the wild have 128.
	maxGPTEntries = 16384
)

// readGPT fills t from the GPT of a disk whose sector 0 holds a protective
// MBR. go-diskfs validates the header and entry-array CRCs and falls back
// to the backup GPT at the disk end; this wrapper guards it against
// hostile headers, bounds-checks the entries and names the type GUIDs.
func readGPT(r io.ReaderAt, size int64, pmbr [4]mbrEntry, t *Table) error {
	backupLBA := size/sectorSize - 1
	primary, err := checkGPTHeader(r, size, 1)
	if err != nil {
		return err
	}
	backup, err := checkGPTHeader(r, size, backupLBA)
	if err != nil {
		return err
	}
	g, err := readDiskfsGPT(r, size)
	if err != nil {
		return fmt.Errorf("%w: GPT unreadable: primary header at LBA 1 %s, backup header at LBA %d %s: %v",
			ErrTable, primary, backupLBA, backup, err)
	}
	if g.RecoveredFromBackup {
		t.Warnings = append(t.Warnings, "primary GPT header damaged; using backup")
	}
	for _, e := range pmbr {
		if e.used() && e.typ != 0xEE {
			t.Warnings = append(t.Warnings, "hybrid MBR: its entries are ignored in favour of the GPT")
			break
		}
	}
	sectors := uint64(size / sectorSize)
	for _, p := range g.Partitions {
		if p.End < p.Start || p.End >= sectors {
			return fmt.Errorf("%w: GPT entry %d (sectors %d-%d) does not fit the disk of %d sectors",
				ErrTable, p.Index, p.Start, p.End, sectors)
		}
		t.Partitions = append(t.Partitions, Partition{
			Number:   p.Index,
			Start:    int64(p.Start) * sectorSize,
			Size:     int64(p.End-p.Start+1) * sectorSize,
			Type:     string(p.Type),
			TypeName: gptTypeNames[p.Type],
			Name:     p.Name,
		})
	}
	return nil
}

// checkGPTHeader judges the header at lba as go-diskfs will and, for a
// header it would trust, checks the entry array it declares. go-diskfs
// allocates count×size bytes straight from the header (a crafted header
// with a valid CRC asks for up to 2^64 bytes), so the geometry must be
// checked before it runs, and it does not check that the array lies on
// the disk. Both headers are checked, since go-diskfs may fall back to the
// backup: a header whose CRC holds but whose array cannot exist is hostile
// or corrupt, and the disk is refused even if the other header is good.
// The returned phrase describes the header for error messages.
func checkGPTHeader(r io.ReaderAt, size, lba int64) (string, error) {
	var h [92]byte
	if lba < 1 || !readAt(r, h[:], lba*sectorSize, size) {
		return "is unreadable", nil
	}
	le := binary.LittleEndian
	switch {
	case string(h[:8]) != "EFI PART":
		return "has no EFI PART signature", nil
	case le.Uint32(h[8:]) != 0x00010000 || le.Uint32(h[12:]) != uint32(len(h)) || le.Uint32(h[20:]) != 0:
		return "has an unsupported revision or header size", nil
	}
	crc := le.Uint32(h[16:])
	clear(h[16:20])
	if crc32.ChecksumIEEE(h[:]) != crc {
		return "fails its header CRC", nil
	}
	first, count, esize := le.Uint64(h[72:]), le.Uint32(h[80:]), le.Uint32(h[84:])
	if esize != gptEntrySize || count > maxGPTEntries ||
		first > uint64(size/sectorSize) || int64(first)*sectorSize+int64(count)*gptEntrySize > size {
		return "", fmt.Errorf("%w: GPT header at LBA %d declares %d entries of %d bytes at LBA %d; want at most %d entries of %d bytes within the disk",
			ErrTable, lba, count, esize, first, maxGPTEntries, gptEntrySize)
	}
	return "passes its header CRC", nil
}

// readDiskfsGPT runs go-diskfs over the disk. It parses untrusted bytes, so
// a panic in it is turned into an error rather than taking the caller down.
func readDiskfsGPT(r io.ReaderAt, size int64) (g *gpt.Table, err error) {
	defer func() {
		if v := recover(); v != nil {
			g, err = nil, fmt.Errorf("go-diskfs panicked: %v", v)
		}
	}()
	return gpt.Read(diskFile{io.NewSectionReader(r, 0, size)}, sectorSize, sectorSize)
}

// diskFile adapts a disk to go-diskfs's backend.File. gpt.Read only reads
// at offsets and seeks to the end to find the backup header, both of which
// the SectionReader provides.
type diskFile struct{ *io.SectionReader }

// Stat is part of fs.File; gpt.Read never calls it and a disk has no
// file metadata to report.
func (diskFile) Stat() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }

// Close is part of fs.File; the caller owns the disk.
func (diskFile) Close() error { return nil }

// gptTypeNames are fdisk's names for the GPT types likely on a Linux disk.
var gptTypeNames = map[gpt.Type]string{
	gpt.BIOSBoot:           "BIOS boot",
	gpt.EFISystemPartition: "EFI System",
	gpt.LinuxFilesystem:    "Linux filesystem",
	gpt.LinuxSwap:          "Linux swap",
	gpt.LinuxRootX86:       "Linux root (x86)",
	gpt.LinuxRootX86_64:    "Linux root (x86-64)",
	gpt.LinuxRootArm:       "Linux root (ARM)",
	gpt.LinuxRootArm64:     "Linux root (ARM-64)",
	gpt.LinuxHome:          "Linux home",
	gpt.LinuxServerData:    "Linux server data",
	gpt.LinuxExtendedBoot:  "Linux extended boot",
	gpt.LinuxLVM:           "Linux LVM",
	gpt.LinuxRAID:          "Linux RAID",
	gpt.LinuxLUKS:          "Linux LUKS",
	gpt.MicrosoftBasicData: "Microsoft basic data",
	gpt.MicrosoftReserved:  "Microsoft reserved",
}
