package qemuconv

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// TestDetectFSTools makes each filesystem with its own mkfs and checks
// DetectFS against blkid.
func TestDetectFSTools(t *testing.T) {
	const uuid = "5b0e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	for _, tc := range []struct {
		want FS
		size string
		mkfs []string // image path appended
	}{
		{FS{"ext2", "two", uuid, 8 << 20}, "8M", []string{"mke2fs", "-q", "-F", "-t", "ext2", "-L", "two", "-U", uuid}},
		{FS{"ext3", "three", uuid, 8 << 20}, "8M", []string{"mke2fs", "-q", "-F", "-t", "ext3", "-L", "three", "-U", uuid}},
		{FS{"ext4", "four", uuid, 8 << 20}, "8M", []string{"mke2fs", "-q", "-F", "-t", "ext4", "-L", "four", "-U", uuid}},
		{FS{"ext4", "", uuid, 8 << 20}, "8M", []string{"mke2fs", "-q", "-F", "-t", "ext2", "-O", "extent", "-U", uuid}},
		{FS{"xfs", "xlabel", uuid, 0}, "320M", []string{"mkfs.xfs", "-q", "-f", "-L", "xlabel", "-m", "uuid=" + uuid}},
		{FS{"btrfs", "blabel", uuid, 0}, "160M", []string{"mkfs.btrfs", "-q", "-f", "-L", "blabel", "-U", uuid}},
		{FS{"swap", "slabel", uuid, 0}, "4M", []string{"mkswap", "-q", "-L", "slabel", "-U", uuid}},
	} {
		t.Run(tc.mkfs[0]+"-"+tc.want.Type+"-"+tc.want.Label, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fs.img")
			testutil.Run(t, "truncate", "-s", tc.size, path)
			testutil.Run(t, tc.mkfs[0], append(tc.mkfs[1:], path)...)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			got := DetectFS(f, 0, fi.Size())
			if ref := blkid(t, path, 0); identity(got) != ref || got != tc.want {
				t.Errorf("DetectFS %+v, blkid %+v, want %+v", got, ref, tc.want)
			}
		})
	}
}

// TestDetectFSInPartition puts xfs and btrfs made elsewhere into GPT
// partitions and checks ReadTable probes them at the right offsets.
func TestDetectFSInPartition(t *testing.T) {
	dir := t.TempDir()
	xfs, btrfs := filepath.Join(dir, "x.img"), filepath.Join(dir, "b.img")
	testutil.Run(t, "truncate", "-s", "320M", xfs, btrfs)
	testutil.Run(t, "mkfs.xfs", "-q", "-f", "-L", "data", xfs)
	testutil.Run(t, "mkfs.btrfs", "-q", "-f", "-L", "big", btrfs)
	path := newImage(t, "700M")
	sfdisk(t, path, "label: gpt", "start=2048, size=320M, type="+gptLinux, "size=330M, type="+gptLinux)
	tab, err := readTableFile(t, path)
	if err != nil {
		t.Fatal(err)
	}
	spliceFile(t, path, tab.Partitions[0].Start, xfs)
	spliceFile(t, path, tab.Partitions[1].Start, btrfs)
	if tab, err = readTableFile(t, path); err != nil {
		t.Fatal(err)
	}
	for _, p := range tab.Partitions {
		if ref := blkid(t, path, p.Start); identity(p.FS) != ref || ref.Type == "" {
			t.Errorf("partition %d: DetectFS %+v, blkid %+v", p.Number, p.FS, ref)
		}
	}
	// Two Linux filesystem partitions: the largest with a superblock wins.
	if root, err := ChooseRoot(tab, 0); err != nil || root.Number != 2 || root.FS.Type != "btrfs" {
		t.Errorf("ChooseRoot = %+v, %v", root, err)
	}
}

func TestDetectFSSynthetic(t *testing.T) {
	for _, tc := range []struct {
		name string
		disk []byte
		want FS
	}{
		{"nil", nil, FS{}},
		{"zeros", make([]byte, 1<<17), FS{}},
		{"ext magic only", extSuperblock(0, 0, 0), FS{Type: "ext2"}},
		{"ext3", extSuperblock(extCompatHasJournal, extIncompatFiletype, ext3RO), FS{Type: "ext3"}},
		{"ext4 flex_bg", extSuperblock(extCompatHasJournal, extIncompatFiletype|0x200, 0), FS{Type: "ext4"}},
		{"ext4 huge_file", extSuperblock(0, 0, 0x8), FS{Type: "ext4"}},
		{"jbd", extSuperblock(0, extIncompatJournalDv, 0), FS{Type: "jbd"}},
		{"ext truncated", extSuperblock(0, 0, 0)[:1100], FS{}},
		{"old swap", swapPage("SWAP-SPACE"), FS{Type: "swap"}},
		{"swap v0 header", swapPage("SWAPSPACE2"), FS{Type: "swap"}},
		{"fat16", fatBootSector(0x36, "FAT16   ", 0x27, "MYDISK     "), FS{"vfat", "MYDISK", "1234-ABCD", 0}},
		{"fat32 no name", fatBootSector(0x52, "FAT32   ", 0x43, "NO NAME    "), FS{"vfat", "", "1234-ABCD", 0}},
		{"fat bad geometry", func() []byte { b := fatBootSector(0x36, "FAT12   ", 0x27, "X"); b[13] = 3; return b }(), FS{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DetectFS(bytes.NewReader(tc.disk), 0, int64(len(tc.disk))); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	// A region lying past the reader's end, or negative, is nothing.
	d := extSuperblock(0, 0, 0)
	for _, r := range [][2]int64{{-1, 4096}, {0, -1}, {4096, 4096}, {1 << 62, 1 << 62}} {
		if got := DetectFS(bytes.NewReader(d), r[0], r[1]); got != (FS{}) {
			t.Errorf("DetectFS(off=%d, size=%d) = %+v", r[0], r[1], got)
		}
	}
}

func extSuperblock(compat, incompat, ro uint32) []byte {
	b := make([]byte, 2048)
	sb := b[1024:]
	sb[0x38], sb[0x39] = 0x53, 0xEF
	for i, v := range []uint32{compat, incompat, ro} {
		sb[0x5C+4*i], sb[0x5D+4*i], sb[0x5E+4*i], sb[0x5F+4*i] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	return b
}

func swapPage(magic string) []byte {
	b := make([]byte, 4096)
	copy(b[4096-10:], magic)
	return b
}

func fatBootSector(typeAt int, typ string, serialAt int, label string) []byte {
	b := make([]byte, 512)
	b[11], b[12] = 0, 2 // 512 bytes per sector
	b[13], b[14], b[16] = 4, 1, 2
	copy(b[typeAt:], typ)
	b[serialAt], b[serialAt+1], b[serialAt+2], b[serialAt+3] = 0xCD, 0xAB, 0x34, 0x12
	copy(b[serialAt+4:], label)
	b[510], b[511] = 0x55, 0xAA
	return b
}

// identity is what blkid reports of a filesystem: all but its size.
func identity(fs FS) FS {
	fs.Size = 0
	return fs
}
