package qemuconv

import (
	"errors"
	"strings"
	"testing"
)

func TestChooseRoot(t *testing.T) {
	const mib = 1 << 20
	part := func(n int, typ, fs string, size int64) Partition {
		return Partition{Number: n, Start: int64(n) * 100 * mib, Size: size, Type: typ, FS: FS{Type: fs}}
	}
	swap := part(1, "0x82", "swap", 512*mib)
	for _, tc := range []struct {
		name  string
		parts []Partition
		want  int
		root  int    // expected number; 0 means an ErrNoRoot error
		err   string // substring of that error
	}{
		{"only 0x83", []Partition{swap, part(2, "0x83", "", 8*mib)}, 0, 2, ""},
		{"only linux gpt", []Partition{part(14, gptBIOS, "", mib), part(1, gptLinux, "ext4", 8*mib)}, 0, 1, ""},
		{"root type", []Partition{part(15, gptESP, "vfat", 100*mib), part(1, gptRoot, "ext4", 8*mib)}, 0, 1, ""},
		{"linux type before root type", []Partition{part(1, gptRoot, "ext4", 80*mib), part(2, gptLinux, "ext4", 8*mib)}, 0, 2, ""},
		{"two linux: largest fs", []Partition{part(1, "0x83", "ext4", 8*mib), part(2, "0x83", "xfs", 80*mib), part(3, "0x83", "", 800*mib)}, 0, 2, ""},
		{"two roots: largest fs", []Partition{part(1, gptRoot, "btrfs", 8*mib), part(2, gptRoot, "ext3", 80*mib)}, 0, 2, ""},
		{"untyped ext2", []Partition{swap, part(2, "0x07", "ext2", 8*mib)}, 0, 2, ""},
		{"equal sizes: first", []Partition{part(1, "0x8e", "ext4", 8*mib), part(2, "0x8e", "ext4", 8*mib)}, 0, 1, ""},
		{"wanted", []Partition{swap, part(2, "0x83", "ext4", 8*mib)}, 1, 1, ""},
		{"wanted absent", []Partition{swap, part(5, "0x83", "ext4", 8*mib)}, 3, 0, "--partition 3: no such partition; the disk has partitions 1, 5"},
		{"nothing", []Partition{swap, part(2, "0x0c", "vfat", 8*mib)}, 0, 0,
			"among 1 (type 0x82, swap, 512 MiB); 2 (type 0x0c, vfat, 8 MiB)"},
		{"no partitions", nil, 0, 0, "no partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ChooseRoot(&Table{Partitions: tc.parts}, tc.want)
			if tc.root == 0 {
				if !errors.Is(err, ErrNoRoot) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want ErrNoRoot with %q", err, tc.err)
				}
				return
			}
			if err != nil || p.Number != tc.root {
				t.Fatalf("got %+v, %v; want partition %d", p, err, tc.root)
			}
		})
	}
	if _, err := ChooseRoot(nil, 0); !errors.Is(err, ErrNoRoot) {
		t.Errorf("nil table: %v", err)
	}
}

func TestStripRange(t *testing.T) {
	const disk = 100 << 20
	tab := &Table{Scheme: SchemeMBR, Partitions: []Partition{
		{Number: 1, Start: 63 * 512, Size: 10 << 20},
		{Number: 2, Start: 20 << 20, Size: 30 << 20},
	}}
	for _, tc := range []struct {
		name          string
		t             *Table
		sectors       int64
		start, length int64
		err           bool
	}{
		{"no table", nil, 63, 63 * 512, disk - 63*512, false},
		{"empty table", &Table{Scheme: SchemeNone}, 0, 0, disk, false},
		{"partition 1 start", tab, 63, 63 * 512, 10 << 20, false},
		{"inside partition 1", tab, 64, 64 * 512, 10<<20 - 512, false},
		{"last sector of partition 1", tab, 63 + (10<<20)/512 - 1, 63*512 + 10<<20 - 512, 512, false},
		{"gap after partition 1", tab, 63 + (10<<20)/512, 63*512 + 10<<20, disk - 63*512 - 10<<20, false},
		{"partition 2", tab, (20 << 20) / 512, 20 << 20, 30 << 20, false},
		{"before partitions", tab, 0, 0, disk, false},
		{"last sector", tab, disk/512 - 1, disk - 512, 512, false},
		{"at end", tab, disk / 512, 0, 0, true},
		{"past end", tab, 1 << 60, 0, 0, true},
		{"negative", tab, -1, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, length, err := StripRange(tc.t, disk, tc.sectors)
			if (err != nil) != tc.err || start != tc.start || length != tc.length {
				t.Errorf("StripRange(%d) = %d, %d, %v; want %d, %d, error %v",
					tc.sectors, start, length, err, tc.start, tc.length, tc.err)
			}
		})
	}
}
