package qemuconv

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// Helpers that build disks with the real tools and read references back
// from sfdisk and blkid, plus in-Go builders for synthetic tables.

// newImage creates a sparse file of size bytes in a fresh temp directory.
func newImage(t *testing.T, size string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	testutil.Run(t, "truncate", "-s", size, path)
	return path
}

// sfdisk partitions path with a script; "@" in the script stands for the
// image path, so "@5 : size=4M" names logical partition 5.
func sfdisk(t *testing.T, path string, script ...string) {
	t.Helper()
	cmd := exec.Command(testutil.RequireTool(t, "sfdisk"), "-q", "--no-reread", "--no-tell-kernel", path)
	cmd.Stdin = strings.NewReader(strings.ReplaceAll(strings.Join(script, "\n")+"\n", "@", path))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
}

// sfdiskParts returns the partitions sfdisk -J reports, minus MBR extended
// containers, which Table does not list.
func sfdiskParts(t *testing.T, path string) []Partition {
	t.Helper()
	var out struct {
		PartitionTable struct {
			Label      string
			Partitions []struct {
				Node, Type, Name string
				Start, Size      int64
			}
		}
	}
	if err := json.Unmarshal([]byte(testutil.Run(t, "sfdisk", "-J", path)), &out); err != nil {
		t.Fatal(err)
	}
	var parts []Partition
	for _, p := range out.PartitionTable.Partitions {
		n, err := strconv.Atoi(strings.TrimPrefix(p.Node, path))
		if err != nil {
			t.Fatalf("sfdisk node %q: %v", p.Node, err)
		}
		typ := p.Type
		if out.PartitionTable.Label == "dos" {
			x, err := strconv.ParseUint(p.Type, 16, 8)
			if err != nil {
				t.Fatal(err)
			}
			if (mbrEntry{typ: byte(x)}).extended() {
				continue
			}
			typ = fmt.Sprintf("0x%02x", x)
		}
		parts = append(parts, Partition{Number: n, Start: p.Start * 512, Size: p.Size * 512, Type: typ, Name: p.Name})
	}
	return parts
}

// blkid returns what blkid -p finds at offset of path.
func blkid(t *testing.T, path string, offset int64) FS {
	t.Helper()
	var fs FS
	out := testutil.Run(t, "blkid", "-p", "-O", strconv.FormatInt(offset, 10), "-o", "export", path)
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "TYPE":
			fs.Type = v
		case "LABEL":
			fs.Label = v
		case "UUID":
			fs.UUID = v
		}
	}
	return fs
}

// mkext4At writes an ext4 filesystem of sizeKiB into path at offset.
func mkext4At(t *testing.T, path string, offset, sizeKiB int64, label, uuid string) {
	t.Helper()
	testutil.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-L", label, "-U", uuid,
		"-E", "offset="+strconv.FormatInt(offset, 10), path, strconv.FormatInt(sizeKiB, 10)+"k")
}

// readTableFile opens path and runs ReadTable on it.
func readTableFile(t *testing.T, path string) (*Table, error) {
	t.Helper()
	return ReadTable(testutil.Open(t, path))
}

// patchFile applies edit to the n bytes of path at off.
func patchFile(t *testing.T, path string, off int64, n int, edit func([]byte)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	edit(b)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// spliceFile copies the non-zero 64 KiB blocks of src into dst at off, so
// a filesystem made in its own file lands in a partition cheaply.
func spliceFile(t *testing.T, dst string, off int64, src string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	for at := int64(0); ; at += int64(len(buf)) {
		n, err := in.ReadAt(buf, at)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, err := out.WriteAt(buf[:n], off+at); err != nil {
				t.Fatal(err)
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// mbrEnt is an MBR or EBR entry for the synthetic builders.
type mbrEnt struct {
	boot, typ      byte
	start, sectors uint32
}

// putMBR writes entries and the 0x55AA signature into the sector at lba.
func putMBR(disk []byte, lba int64, ents ...mbrEnt) {
	s := disk[lba*512 : lba*512+512]
	for i, e := range ents {
		b := s[446+16*i:]
		b[0], b[4] = e.boot, e.typ
		binary.LittleEndian.PutUint32(b[8:], e.start)
		binary.LittleEndian.PutUint32(b[12:], e.sectors)
	}
	s[510], s[511] = 0x55, 0xAA
}

// gptEnt is a GPT entry for buildGPT; typ is a type GUID.
type gptEnt struct {
	typ         string
	first, last uint64
	name        string
}

// buildGPT returns a disk of the given sectors with a protective MBR and
// matching primary and backup GPTs of count entries.
func buildGPT(sectors int64, count uint32, parts ...gptEnt) []byte {
	disk := make([]byte, sectors*512)
	putMBR(disk, 0, mbrEnt{typ: 0xEE, start: 1, sectors: uint32(sectors - 1)})
	array := make([]byte, int(count)*128)
	for i, p := range parts {
		e := array[i*128:]
		copy(e[0:16], guidBytes(p.typ))
		copy(e[16:32], guidBytes(fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1)))
		binary.LittleEndian.PutUint64(e[32:], p.first)
		binary.LittleEndian.PutUint64(e[40:], p.last)
		for j, c := range p.name {
			binary.LittleEndian.PutUint16(e[56+2*j:], uint16(c))
		}
	}
	arraySectors := (int64(len(array)) + 511) / 512
	last := sectors - 1
	backupArray := last - arraySectors
	copy(disk[2*512:], array)
	copy(disk[backupArray*512:], array)
	for _, h := range [][3]int64{{1, last, 2}, {last, 1, backupArray}} {
		b := disk[h[0]*512:]
		copy(b, "EFI PART")
		binary.LittleEndian.PutUint32(b[8:], 0x00010000)
		binary.LittleEndian.PutUint32(b[12:], 92)
		binary.LittleEndian.PutUint64(b[24:], uint64(h[0]))
		binary.LittleEndian.PutUint64(b[32:], uint64(h[1]))
		binary.LittleEndian.PutUint64(b[40:], uint64(2+arraySectors))
		binary.LittleEndian.PutUint64(b[48:], uint64(backupArray-1))
		copy(b[56:72], guidBytes("11111111-2222-3333-4444-555555555555"))
		binary.LittleEndian.PutUint64(b[72:], uint64(h[2]))
		binary.LittleEndian.PutUint32(b[80:], count)
		binary.LittleEndian.PutUint32(b[84:], 128)
		binary.LittleEndian.PutUint32(b[88:], crc32.ChecksumIEEE(array))
		sealGPTHeader(b)
	}
	return disk
}

// sealGPTHeader recomputes the CRC of the header at the start of b.
func sealGPTHeader(b []byte) {
	clear(b[16:20])
	binary.LittleEndian.PutUint32(b[16:], crc32.ChecksumIEEE(b[:92]))
}

// guidBytes encodes a GUID string in GPT's mixed-endian layout.
func guidBytes(s string) []byte {
	h, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(h) != 16 {
		panic("bad GUID " + s)
	}
	for _, r := range [][2]int{{0, 4}, {4, 6}, {6, 8}} {
		for i, j := r[0], r[1]-1; i < j; i, j = i+1, j-1 {
			h[i], h[j] = h[j], h[i]
		}
	}
	return h
}
