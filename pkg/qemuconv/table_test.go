package qemuconv

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

const (
	rootUUID = "0fa4b43c-8cd2-4a34-9a3a-5c1f0e7a2b11"
	gptLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	gptRoot  = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
	gptBIOS  = "21686148-6449-6E6F-744E-656564454649"
	gptESP   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
)

// checkAgainstTools compares a table with sfdisk -J and every detected
// filesystem with blkid, and checks the root ChooseRoot picks.
func checkAgainstTools(t *testing.T, path string, tab *Table, wantRoot int) {
	t.Helper()
	want := sfdiskParts(t, path)
	if len(tab.Partitions) != len(want) {
		t.Fatalf("got %d partitions %+v, sfdisk reports %d %+v", len(tab.Partitions), tab.Partitions, len(want), want)
	}
	// sfdisk lists GPT entries in table order too.
	for i, p := range tab.Partitions {
		w := want[i]
		if p.Number != w.Number || p.Start != w.Start || p.Size != w.Size || p.Type != w.Type || p.Name != w.Name {
			t.Errorf("partition %d: got %d start=%d size=%d type=%s name=%q; sfdisk: %d start=%d size=%d type=%s name=%q",
				i, p.Number, p.Start, p.Size, p.Type, p.Name, w.Number, w.Start, w.Size, w.Type, w.Name)
		}
		if p.FS.Type != "" {
			if ref := blkid(t, path, p.Start); identity(p.FS) != ref {
				t.Errorf("partition %d: DetectFS %+v, blkid %+v", p.Number, p.FS, ref)
			}
		}
	}
	root, err := ChooseRoot(tab, 0)
	if err != nil {
		t.Fatal(err)
	}
	if root.Number != wantRoot {
		t.Errorf("ChooseRoot chose %d, want %d", root.Number, wantRoot)
	}
	if root.FS.Type != "ext4" || root.FS.Label != "rootfs" || root.FS.UUID != rootUUID {
		t.Errorf("root FS %+v", root.FS)
	}
}

func TestReadTableMBR(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []string
		root     int
		rootAt   int64 // sector
		rootSize int64 // KiB
	}{
		{"start63", []string{"label: dos", "start=63, type=83"}, 1, 63, 32 << 10},
		{"start2048", []string{"label: dos", "start=2048, size=8M, type=82", "start=18432, type=83, bootable"}, 2, 18432, 32 << 10},
		{"logical", []string{
			"label: dos",
			"@1 : start=2048, size=8M, type=82",
			"@2 : start=18432, type=5",
			"@5 : size=4M, type=c",
			"@6 : type=83",
		}, 6, 30720, 32 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newImage(t, "64M")
			sfdisk(t, path, tc.script...)
			mkext4At(t, path, tc.rootAt*512, tc.rootSize, "rootfs", rootUUID)
			tab, err := readTableFile(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if tab.Scheme != SchemeMBR || len(tab.Warnings) != 0 {
				t.Fatalf("scheme %q warnings %q", tab.Scheme, tab.Warnings)
			}
			checkAgainstTools(t, path, tab, tc.root)
		})
	}
}

// debianGPT lays a disk out like Debian's cloud images, scaled down:
// BIOS boot 14 and EFI 15 first, then root 1 after them.
func debianGPT(t *testing.T, rootType string) string {
	path := newImage(t, "64M")
	sfdisk(t, path,
		"label: gpt",
		"@14 : start=2048, size=6144, type="+gptBIOS,
		"@15 : start=8192, size=16384, type="+gptESP,
		"@1 : start=24576, type="+rootType+", name=root",
	)
	mkext4At(t, path, 24576*512, 32<<10, "rootfs", rootUUID)
	return path
}

func TestReadTableGPT(t *testing.T) {
	for _, typ := range []string{gptRoot, gptLinux} {
		t.Run(typ, func(t *testing.T) {
			path := debianGPT(t, typ)
			tab, err := readTableFile(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if tab.Scheme != SchemeGPT || len(tab.Warnings) != 0 {
				t.Fatalf("scheme %q warnings %q", tab.Scheme, tab.Warnings)
			}
			checkAgainstTools(t, path, tab, 1)
			names := []string{tab.Partitions[0].TypeName, tab.Partitions[1].TypeName, tab.Partitions[2].TypeName}
			if !slices.Equal(names[1:], []string{"BIOS boot", "EFI System"}) || names[0] == "" {
				t.Errorf("type names %q", names)
			}
		})
	}
}

func TestReadTableGPTDamaged(t *testing.T) {
	path := debianGPT(t, gptRoot)
	want := sfdiskParts(t, path)
	flip := func(b []byte) { b[0] ^= 0xff }
	patchFile(t, path, 512+16, 1, flip) // primary header CRC
	tab, err := readTableFile(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Partitions) != len(want) || tab.Partitions[0].Start != want[0].Start {
		t.Errorf("from backup: %+v, want %+v", tab.Partitions, want)
	}
	if !slices.Equal(tab.Warnings, []string{"primary GPT header damaged; using backup"}) {
		t.Errorf("warnings %q", tab.Warnings)
	}

	patchFile(t, path, 64<<20-512+16, 1, flip) // backup header CRC
	_, err = readTableFile(t, path)
	if !errors.Is(err, ErrTable) || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("both headers damaged: %v", err)
	}
	t.Log(err)
}

// synthTable reads a disk built in memory.
func synthTable(disk []byte) (*Table, error) {
	return ReadTable(bytes.NewReader(disk), int64(len(disk)))
}

func TestReadTableSynthetic(t *testing.T) {
	mbr := func(ents ...mbrEnt) []byte {
		d := make([]byte, 1<<20)
		putMBR(d, 0, ents...)
		return d
	}
	withEBRs := func(d []byte, ebrs map[int64][]mbrEnt) []byte {
		for lba, e := range ebrs {
			putMBR(d, lba, e...)
		}
		return d
	}
	fat := make([]byte, 1<<20) // a FAT boot sector: boot code where the entries would be
	copy(fat[446:], "This is not a bootable disk.")
	fat[510], fat[511] = 0x55, 0xAA
	for _, tc := range []struct {
		name   string
		disk   []byte
		scheme Scheme
		parts  []int  // partition numbers
		err    string // substring of an ErrTable error
	}{
		{"empty", make([]byte, 4096), SchemeNone, nil, ""},
		{"short", []byte{1, 2, 3}, SchemeNone, nil, ""},
		{"no signature", func() []byte { d := mbr(mbrEnt{typ: 0x83, start: 1, sectors: 10}); d[511] = 0; return d }(), SchemeNone, nil, ""},
		{"hybrid no signature", func() []byte {
			d := mbr(mbrEnt{typ: 0xEE, start: 1, sectors: 10}, mbrEnt{typ: 0x83})
			d[510] = 0
			return d
		}(), SchemeNone, nil, ""},
		{"fat boot sector", fat, SchemeNone, nil, ""},
		{"empty mbr", mbr(), SchemeMBR, nil, ""},
		{"primaries", mbr(mbrEnt{typ: 0x83, start: 1, sectors: 10}, mbrEnt{}, mbrEnt{boot: 0x80, typ: 0x82, start: 20, sectors: 10}), SchemeMBR, []int{1, 3}, ""},
		{"beyond end", mbr(mbrEnt{typ: 0x83, start: 2000, sectors: 100}), SchemeMBR, nil, "partition 1 (sectors 2000-2099) ends beyond the disk end at sector 2048"},
		{"logicals", withEBRs(mbr(mbrEnt{typ: 0x05, start: 100, sectors: 1000}), map[int64][]mbrEnt{
			100: {{typ: 0x83, start: 1, sectors: 10}, {typ: 0x05, start: 50, sectors: 20}},
			150: {{typ: 0x82, start: 1, sectors: 10}},
		}), SchemeMBR, []int{5, 6}, ""},
		{"logical beyond end", withEBRs(mbr(mbrEnt{typ: 0x05, start: 100, sectors: 1000}), map[int64][]mbrEnt{
			100: {{typ: 0x83, start: 1, sectors: 10}, {typ: 0x05, start: 50, sectors: 20}},
			150: {{typ: 0x82, start: 1900, sectors: 10}},
		}), SchemeMBR, nil, "partition 6 (sectors 2050-2059) ends beyond"},
		{"ebr self loop", withEBRs(mbr(mbrEnt{typ: 0x05, start: 100, sectors: 1000}), map[int64][]mbrEnt{
			100: {{typ: 0x83, start: 1, sectors: 10}, {typ: 0x05, start: 0, sectors: 20}},
		}), SchemeMBR, nil, "loops back to the EBR at sector 100"},
		{"ebr loop", withEBRs(mbr(mbrEnt{typ: 0x0f, start: 100, sectors: 1000}), map[int64][]mbrEnt{
			100: {{typ: 0x83, start: 1, sectors: 10}, {typ: 0x05, start: 50, sectors: 20}},
			150: {{typ: 0x83, start: 1, sectors: 10}, {typ: 0x05, start: 0, sectors: 20}},
		}), SchemeMBR, nil, "loops back to the EBR at sector 100"},
		{"ebr beyond end", withEBRs(mbr(mbrEnt{typ: 0x05, start: 100, sectors: 1000}), map[int64][]mbrEnt{
			100: {{typ: 0x05, start: 5000, sectors: 20}},
		}), SchemeMBR, nil, "EBR at sector 5100 lies beyond the disk end"},
		{"gpt", buildGPT(64, 4, gptEnt{gptLinux, 10, 19, "a"}, gptEnt{gptRoot, 20, 39, "b"}), SchemeGPT, []int{1, 2}, ""},
		{"gpt entry beyond end", buildGPT(64, 4, gptEnt{gptLinux, 10, 64, "a"}), SchemeGPT, nil, "GPT entry 1 (sectors 10-64) does not fit"},
		{"gpt entry reversed", buildGPT(64, 4, gptEnt{gptLinux, 10, 9, "a"}), SchemeGPT, nil, "GPT entry 1 (sectors 10-9)"},
		{"gpt huge entry count", func() []byte {
			d := buildGPT(64, 4, gptEnt{gptLinux, 10, 19, "a"})
			h := d[512:]
			h[80], h[81], h[82], h[83] = 0xff, 0xff, 0xff, 0xff
			sealGPTHeader(h)
			return d
		}(), SchemeGPT, nil, "declares 4294967295 entries of 128 bytes"},
		{"gpt array beyond end", func() []byte {
			d := buildGPT(64, 4, gptEnt{gptLinux, 10, 19, "a"})
			h := d[63*512:]
			h[72] = 64
			sealGPTHeader(h)
			return d
		}(), SchemeGPT, nil, "GPT header at LBA 63 declares 4 entries of 128 bytes at LBA 64"},
		{"gpt no header", func() []byte { d := buildGPT(64, 4); clear(d[512:1024]); clear(d[63*512:]); return d }(), SchemeGPT, nil, "no EFI PART signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := synthTable(tc.disk)
			if tc.err != "" {
				if !errors.Is(err, ErrTable) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want ErrTable with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var nums []int
			for _, p := range tab.Partitions {
				nums = append(nums, p.Number)
			}
			if tab.Scheme != tc.scheme || !slices.Equal(nums, tc.parts) {
				t.Errorf("got %s %v, want %s %v", tab.Scheme, nums, tc.scheme, tc.parts)
			}
		})
	}
}

func TestReadTableLogicalGeometry(t *testing.T) {
	d := make([]byte, 1<<20)
	putMBR(d, 0, mbrEnt{typ: 0x83, start: 2, sectors: 8}, mbrEnt{typ: 0x85, start: 100, sectors: 1000})
	putMBR(d, 100, mbrEnt{typ: 0x83, start: 3, sectors: 10}, mbrEnt{typ: 0x05, start: 50, sectors: 20})
	putMBR(d, 150, mbrEnt{typ: 0x0c, start: 4, sectors: 16})
	tab, err := synthTable(d)
	if err != nil {
		t.Fatal(err)
	}
	want := []Partition{
		{Number: 1, Start: 2 * 512, Size: 8 * 512, Type: "0x83", TypeName: "Linux"},
		{Number: 5, Start: 103 * 512, Size: 10 * 512, Type: "0x83", TypeName: "Linux"},
		{Number: 6, Start: 154 * 512, Size: 16 * 512, Type: "0x0c", TypeName: "W95 FAT32 (LBA)"},
	}
	if !slices.Equal(tab.Partitions, want) {
		t.Errorf("got %+v\nwant %+v", tab.Partitions, want)
	}
}

func TestReadTableHybridMBR(t *testing.T) {
	d := buildGPT(64, 4, gptEnt{gptLinux, 10, 19, "a"})
	putMBR(d, 0, mbrEnt{typ: 0xEE, start: 1, sectors: 9}, mbrEnt{boot: 0x80, typ: 0x83, start: 10, sectors: 10})
	tab, err := synthTable(d)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Scheme != SchemeGPT || len(tab.Partitions) != 1 || tab.Partitions[0].Type != gptLinux ||
		!slices.Equal(tab.Warnings, []string{"hybrid MBR: its entries are ignored in favour of the GPT"}) {
		t.Errorf("got %+v", tab)
	}
}
