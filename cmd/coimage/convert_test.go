package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// layout is a disk fixture: an sfdisk script and where the ext4 root goes.
type layout struct {
	name      string
	script    string // %s is replaced by the disk path (partition names)
	rootNum   int
	rootStart int64 // sectors
	rootSize  int64 // sectors
}

const diskMiB = 48

var layouts = []layout{
	{"mbr-63", "label: dos\nstart=63, size=65536, type=83\n", 1, 63, 65536},
	{"mbr-2048", "label: dos\nstart=2048, size=65536, type=83\n", 1, 2048, 65536},
	{"mbr-logical", "label: dos\nstart=2048, size=8192, type=82\nstart=10240, type=5\nstart=12288, size=4096, type=c\nstart=18432, size=65536, type=83\n", 6, 18432, 65536},
	// Debian cloud image layout: BIOS boot 14 and EFI 15 first, root 1 after them.
	{"gpt-cloud", "label: gpt\n%[1]s14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649\n%[1]s15 : start=8192, size=16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n%[1]s1 : start=24576, size=65536, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n", 1, 24576, 65536},
}

// formats turn the raw fixture into each input format.
var formats = []struct {
	name string
	args []string // qemu-img convert options; nil keeps the raw file
}{
	{"raw", nil},
	{"qcow2", []string{"-O", "qcow2"}},
	{"qcow2-zlib", []string{"-O", "qcow2", "-c"}},
	{"qcow2-zstd", []string{"-O", "qcow2", "-c", "-o", "compression_type=zstd"}},
	{"xz", nil},
}

// makeDisk writes a raw disk with the layout's table and an ext4 root
// filled with a few MiB of files.
func makeDisk(t *testing.T, dir string, l layout) string {
	t.Helper()
	disk := filepath.Join(dir, l.name+".raw")
	testutil.Run(t, "truncate", "-s", fmt.Sprintf("%dM", diskMiB), disk)
	script := l.script
	if strings.Contains(script, "%[1]s") {
		script = fmt.Sprintf(script, disk)
	}
	sfdisk := testutil.RequireTool(t, "sfdisk")
	runWithStdin(t, script, sfdisk, "-q", disk)
	tree := filepath.Join(dir, l.name+".tree")
	fillTree(t, tree)
	testutil.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "cobd-root", "-d", tree,
		"-E", fmt.Sprintf("offset=%d", l.rootStart*512), disk, fmt.Sprint(l.rootSize/2))
	return disk
}

func fillTree(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewSource(42))
	for i := range 8 {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		// Half random, half text: something for the compressors to do.
		b := make([]byte, 256<<10)
		rng.Read(b[:128<<10])
		copy(b[128<<10:], bytes.Repeat([]byte("cooperative linux "), 128<<10/18))
		if err := os.WriteFile(filepath.Join(sub, "data"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runWithStdin(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// toFormat converts the raw disk into the given format and returns the path
// and, for --image-opts, the image qemu-img reads and its driver (qemu-img
// has no xz driver: its reference is the raw disk the xz file holds).
func toFormat(t *testing.T, raw string, args []string, name string) (image, refImage, driver string) {
	switch {
	case name == "xz":
		xz := testutil.Run(t, "xz", "-T0", "-c", raw)
		out := raw + ".xz"
		if err := os.WriteFile(out, []byte(xz), 0o644); err != nil {
			t.Fatal(err)
		}
		return out, raw, "file"
	case args == nil:
		return raw, raw, "file"
	}
	out := strings.TrimSuffix(raw, ".raw") + "." + name
	testutil.Run(t, "qemu-img", append(append([]string{"convert"}, args...), raw, out)...)
	return out, out, "qcow2"
}

// reference is qemu-img's single-pass extraction of the same partition.
func reference(t *testing.T, image, driver string, start, size int64, out string) {
	opts := fmt.Sprintf("driver=raw,offset=%d,size=%d,file.driver=%s,file.filename=%s", start*512, size*512, driver, image)
	if driver != "file" {
		opts = fmt.Sprintf("driver=raw,offset=%d,size=%d,file.driver=%s,file.file.filename=%s", start*512, size*512, driver, image)
	}
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", "--image-opts", opts, out)
}

func TestConvertMatchesQemuImg(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	testutil.RequireTool(t, "e2fsck")
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			dir := t.TempDir()
			raw := makeDisk(t, dir, l)
			for _, f := range formats {
				t.Run(f.name, func(t *testing.T) {
					image, refImage, driver := toFormat(t, raw, f.args, f.name)
					want := filepath.Join(dir, f.name+".want")
					reference(t, refImage, driver, l.rootStart, l.rootSize, want)
					got := filepath.Join(dir, f.name+".img")
					stdout, stderr, code := coimage(t, "convert", "--json", image, got)
					if code != 0 {
						t.Fatalf("coimage convert exited %d: %s", code, stderr)
					}
					var rep convertReport
					if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
						t.Fatalf("report %q: %v", stdout, err)
					}
					if rep.Partition != l.rootNum || rep.Offset != l.rootStart*512 || rep.Size != l.rootSize*512 {
						t.Errorf("chose partition %d at %d size %d; want %d at %d size %d",
							rep.Partition, rep.Offset, rep.Size, l.rootNum, l.rootStart*512, l.rootSize*512)
					}
					if rep.FS == nil || rep.FS.Type != "ext4" || rep.FS.Label != "cobd-root" {
						t.Errorf("filesystem reported as %+v, want ext4 labelled cobd-root", rep.FS)
					}
					assertSameFile(t, got, want)
					testutil.Run(t, "e2fsck", "-fn", got)
				})
			}
		})
	}
}

func TestConvertStripMatchesDd(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	l := layouts[0]
	raw := makeDisk(t, dir, l)
	// The classic recipe: qemu-img to raw, then dd bs=512 skip=63. The
	// fixture's partition ends at the disk's end minus the unpartitioned
	// tail, so bound the reference to the partition as --strip does.
	want := filepath.Join(dir, "dd.img")
	testutil.Run(t, "dd", "if="+raw, "of="+want, "bs=512", "skip=63", fmt.Sprintf("count=%d", l.rootSize), "status=none")
	qcow := filepath.Join(dir, "d.qcow2")
	testutil.Run(t, "qemu-img", "convert", "-O", "qcow2", raw, qcow)
	got := filepath.Join(dir, "strip.img")
	if _, stderr, code := coimage(t, "convert", "--strip", "63", qcow, got); code != 0 {
		t.Fatalf("coimage convert --strip 63 exited %d: %s", code, stderr)
	}
	assertSameFile(t, got, want)
}

func TestConvertWholeDiskFilesystem(t *testing.T) {
	dir := t.TempDir()
	fs := filepath.Join(dir, "fs.raw")
	testutil.Run(t, "mke2fs", "-q", "-t", "ext4", "-L", "bare", fs, "16M")
	got := filepath.Join(dir, "out.img")
	stdout, stderr, code := coimage(t, "convert", "--json", fs, got)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"mode": "whole-disk"`) {
		t.Errorf("report %s does not say whole-disk", stdout)
	}
	assertSameFile(t, got, fs)
}

func assertSameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s (%d bytes) differs from reference %s (%d bytes)", got, len(a), want, len(b))
	}
}

// TestConvertBadInput checks that each broken image gives a clear error
// and leaves nothing behind in the output directory.
func TestConvertBadInput(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	raw := makeDisk(t, dir, layouts[3])
	qcow := filepath.Join(dir, "good.qcow2")
	testutil.Run(t, "qemu-img", "convert", "-O", "qcow2", raw, qcow)
	good, err := os.ReadFile(qcow)
	if err != nil {
		t.Fatal(err)
	}
	rawBytes, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.qcow2")
	testutil.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "16M")
	top := filepath.Join(dir, "top.qcow2")
	testutil.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
	topBytes, err := os.ReadFile(top)
	if err != nil {
		t.Fatal(err)
	}

	vhd := filepath.Join(dir, "good.vhd")
	testutil.Run(t, "qemu-img", "convert", "-O", "vpc", raw, vhd)
	vhdBytes, err := os.ReadFile(vhd)
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.raw")
	if err := os.WriteFile(small, rawBytes[:4<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "xz", "-T1", small)
	xzBytes, err := os.ReadFile(small + ".xz")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		image []byte
		want  string // part of the error message
	}{
		{"truncated-qcow2", good[:len(good)/2], "qcow2"},
		{"l2-past-eof", patchFirstL2(t, good), "L2 entry for virtual offset"},
		{"truncated-vhd", append(vhdBytes[:len(vhdBytes)/2:len(vhdBytes)/2], vhdBytes[:512]...), "the image is truncated"},
		{"vmdk-extent-outside", []byte("# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"../../etc/passwd\" 0\n"), "outside the descriptor's directory"},
		{"l1-overlaps-header", patchU64(good, 40, 0), "L1"},
		{"gpt-bad-crc", corruptGPT(rawBytes), "CRC"},
		{"backing-file", topBytes, "--allow-backing"},
		{"xz-bomb", testutil.XZDeclaring(t, xzBytes, 1<<20), "holds more than the 1048576 bytes its index declares"},
		{"xz-past-free-space", testutil.XZDeclaring(t, xzBytes, 1<<61), "set TMPDIR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in")
			if err := os.WriteFile(in, tc.image, 0o644); err != nil {
				t.Fatal(err)
			}
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out.img")
			_, stderr, code := coimage(t, "convert", in, out)
			if code == 0 {
				t.Fatal("convert of a broken image succeeded")
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q does not mention %q", stderr, tc.want)
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("output directory holds %d entries after a failed convert", len(ents))
			}
		})
	}
}

func patchU64(b []byte, off int, v uint64) []byte {
	c := bytes.Clone(b)
	binary.BigEndian.PutUint64(c[off:], v)
	return c
}

// patchFirstL2 points the first allocated data cluster far past the end of
// the file.
func patchFirstL2(t *testing.T, img []byte) []byte {
	t.Helper()
	const offMask = 0x00fffffffffffe00
	clusterBits := binary.BigEndian.Uint32(img[20:])
	l1Size := binary.BigEndian.Uint32(img[36:])
	l1Off := binary.BigEndian.Uint64(img[40:])
	for i := range uint64(l1Size) {
		l2 := binary.BigEndian.Uint64(img[l1Off+8*i:]) & offMask
		if l2 == 0 {
			continue
		}
		for j := uint64(0); j < 1<<(clusterBits-3); j++ {
			at := int(l2 + 8*j)
			if binary.BigEndian.Uint64(img[at:])&offMask != 0 {
				past := (uint64(len(img))*4 + 1<<clusterBits) &^ (1<<clusterBits - 1)
				return patchU64(img, at, 1<<63|past)
			}
		}
	}
	t.Fatal("fixture has no allocated cluster")
	return nil
}

// corruptGPT flips a byte in both the primary and the backup GPT headers.
func corruptGPT(disk []byte) []byte {
	c := bytes.Clone(disk)
	c[512+24] ^= 0xff        // primary header: MyLBA field, covered by the CRC
	c[len(c)-512+24] ^= 0xff // backup header at the last sector
	return c
}

// TestConvertWarnsOfCutOffFilesystem: a filesystem larger than its
// partition (a wrong table, or mke2fs given the wrong size) converts, but
// the user is told the result will not mount.
func TestConvertWarnsOfCutOffFilesystem(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	testutil.Run(t, "truncate", "-s", "48M", disk)
	runWithStdin(t, "label: dos\nstart=2048, size=32768, type=83\n", testutil.RequireTool(t, "sfdisk"), "-q", disk)
	testutil.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-E", "offset=1048576", disk, "24M")
	_, stderr, code := coimage(t, "convert", disk, filepath.Join(dir, "out.img"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "will not mount") {
		t.Errorf("no warning about the cut-off filesystem in %q", stderr)
	}
}

// TestConvertFlagErrors: errors about what the options asked for name the
// flags as typed, and leave nothing behind.
func TestConvertFlagErrors(t *testing.T) {
	dir := t.TempDir()
	raw := makeDisk(t, dir, layouts[2])
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--partition", "9"}, "--partition 9: no such partition; the disk has partitions 1, 5, 6"},
		{[]string{"--partition", "-1"}, "--partition -1: partitions are numbered from 1"},
		{[]string{"--strip", "-1"}, "--strip -1: a negative number of sectors"},
		{[]string{"--strip", "999999999"}, "--strip 999999999 starts at or past the disk end"},
		{[]string{"--whole", "--partition", "1"}, "--whole excludes --partition and --strip"},
		{[]string{"--strip", "63", "--partition", "1"}, "--strip and --partition exclude each other"},
	} {
		outDir := t.TempDir()
		args := append(append([]string{"convert"}, tc.args...), raw, filepath.Join(outDir, "out.img"))
		_, stderr, code := coimage(t, args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
		assertNoTemp(t, outDir)
		if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
			t.Errorf("%v: %d entries left in the output directory", tc.args, len(ents))
		}
	}
}
