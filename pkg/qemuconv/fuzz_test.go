package qemuconv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// fuzzReadTable feeds arbitrary bytes to ReadTable as a disk and runs the
// rest of the pipeline over whatever it returns; nothing may panic, and an
// error must wrap ErrTable.
func fuzzReadTable(t *testing.T, disk []byte) {
	tab, err := ReadTable(bytes.NewReader(disk), int64(len(disk)))
	if err != nil {
		if tab != nil || !errors.Is(err, ErrTable) {
			t.Fatalf("ReadTable = %v, %v", tab, err)
		}
		return
	}
	for _, p := range tab.Partitions {
		if p.Start < 0 || p.Size <= 0 || p.Start+p.Size > int64(len(disk)) {
			t.Fatalf("partition %d outside the disk: %+v", p.Number, p)
		}
	}
	if _, err := ChooseRoot(tab, 0); err != nil && !errors.Is(err, ErrNoRoot) {
		t.Fatal(err)
	}
	for _, n := range []int64{0, 1, 63, 2048} {
		if start, length, err := StripRange(tab, int64(len(disk)), n); err == nil && (start+length > int64(len(disk)) || length <= 0) {
			t.Fatalf("StripRange(%d) = %d, %d", n, start, length)
		}
	}
}

// The seeds are small disks: the fuzzer mutates and minimises whole
// inputs, and a few KiB keep that fast.

func FuzzMBR(f *testing.F) {
	d := make([]byte, 16*512)
	putMBR(d, 0, mbrEnt{boot: 0x80, typ: 0x83, start: 1, sectors: 2}, mbrEnt{typ: 0x05, start: 4, sectors: 12})
	putMBR(d, 4, mbrEnt{typ: 0x82, start: 1, sectors: 1}, mbrEnt{typ: 0x05, start: 4, sectors: 8})
	putMBR(d, 8, mbrEnt{typ: 0x83, start: 1, sectors: 7})
	copy(d[9*512:], extSuperblock(extCompatHasJournal, 0x40, 0)) // ext4 in partition 6
	f.Add(d)
	loop := bytes.Clone(d)
	putMBR(loop, 8, mbrEnt{typ: 0x83, start: 1, sectors: 7}, mbrEnt{typ: 0x0f, start: 0, sectors: 4})
	f.Add(loop)
	small := make([]byte, 512)
	putMBR(small, 0, mbrEnt{typ: 0x0c, start: 0, sectors: 1})
	f.Add(small)
	f.Fuzz(fuzzReadTable)
}

func FuzzGPT(f *testing.F) {
	f.Add(buildGPT(16, 4, gptEnt{gptLinux, 4, 7, "root"}, gptEnt{gptBIOS, 8, 8, ""}, gptEnt{gptRoot, 9, 12, "r"}))
	damaged := buildGPT(16, 4, gptEnt{gptLinux, 4, 12, "root"})
	damaged[512+16] ^= 1
	f.Add(damaged)
	f.Add(buildGPT(24, 16, gptEnt{gptESP, 10, 11, "EFI"}))
	f.Fuzz(func(t *testing.T, disk []byte) {
		fuzzReadTable(t, disk)
		fuzzReadTable(t, resealGPT(disk))
	})
}

// resealGPT recomputes the CRCs of both GPT headers (and of the entry
// arrays they point to, when those lie on the disk) so that mutated header
// fields get past the CRC checks into the parser.
func resealGPT(disk []byte) []byte {
	d := bytes.Clone(disk)
	n := int64(len(d)) / 512
	for _, lba := range []int64{1, n - 1} {
		if lba < 1 || lba >= n {
			continue
		}
		h := d[lba*512 : lba*512+512]
		first, count := binary.LittleEndian.Uint64(h[72:]), uint64(binary.LittleEndian.Uint32(h[80:]))
		if first < uint64(n) && count <= maxGPTEntries && first*512+count*128 <= uint64(len(d)) {
			binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(d[first*512:first*512+count*128]))
		}
		sealGPTHeader(h)
	}
	return d
}

func FuzzDetectFS(f *testing.F) {
	f.Add(extSuperblock(extCompatHasJournal, 0x2c2, 0x7b), int64(0))
	f.Add(swapPage("SWAPSPACE2"), int64(0))
	f.Add(fatBootSector(0x52, "FAT32   ", 0x43, "EFI"), int64(0))
	xfs := make([]byte, 512)
	copy(xfs, "XFSB")
	f.Add(xfs, int64(0))
	btrfs := make([]byte, 64<<10+1024)
	copy(btrfs[64<<10+0x40:], "_BHRfS_M")
	f.Add(btrfs, int64(1024))
	f.Fuzz(func(t *testing.T, data []byte, off int64) {
		DetectFS(bytes.NewReader(data), off, int64(len(data))-off)
		DetectFS(bytes.NewReader(data), off, int64(len(data)))
	})
}
