package imagefmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zlib"

	"github.com/colinux-ng/colinux/internal/testutil"
)

func TestVMDKMatchesQemu(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	for _, tc := range []struct {
		subformat string
		opts      []string
		files     int // extent files besides the one opened
	}{
		{"monolithicSparse", nil, 0},
		{"monolithicFlat", nil, 1},
		{"twoGbMaxExtentSparse", nil, 1},
		{"twoGbMaxExtentFlat", nil, 1},
		{"streamOptimized", nil, 0},
		{"monolithicSparse", []string{"compat6=on"}, 0},
	} {
		t.Run(tc.subformat+strings.Join(tc.opts, ","), func(t *testing.T) {
			opts := strings.Join(append([]string{"subformat=" + tc.subformat}, tc.opts...), ",")
			det := checkAgainstQemu(t, convertTo(t, src, VMDK, "disk.vmdk", "-o", opts), VMDK)
			if det.Subformat != tc.subformat || len(det.Files) != tc.files {
				t.Errorf("details %+v, want subformat %s and %d files", det, tc.subformat, tc.files)
			}
			sparse := strings.Contains(tc.subformat, "Sparse") || tc.subformat == "streamOptimized"
			if sparse != (det.Unit == "grain") {
				t.Errorf("details %+v", det)
			}
		})
	}
}

// TestVMDKZeroedGrains writes zeros over whole grains of an image with
// the zeroed-grain feature, which records them as grain table entries of 1.
func TestVMDKZeroedGrains(t *testing.T) {
	testutil.RequireTool(t, "qemu-io")
	path := filepath.Join(t.TempDir(), "zero.vmdk")
	qemuImg(t, "create", "-q", "-f", "vmdk", "-o", "zeroed_grain=on", path, "4M")
	testutil.Run(t, "qemu-io", "-f", "vmdk",
		"-c", "write -P 0x5a 0 256k",
		"-c", "write -z 64k 128k",
		"-c", "write -z 1M 64k",
		path)
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ext := checkDisk(t, d, qemuRaw(t, path))
	want := []Extent{{0, 64 << 10}, {192 << 10, 64 << 10}}
	if len(ext) != 2 || ext[0] != want[0] || ext[1] != want[1] {
		t.Errorf("Extents = %v, want %v", ext, want)
	}
}

// TestVMDKManyExtents spans three twoGbMaxExtentSparse files, with data
// across the boundaries, and compares the whole 4 GiB disk with
// qemu-img's reading in pieces.
func TestVMDKManyExtents(t *testing.T) {
	testutil.RequireTool(t, "qemu-io")
	dir := t.TempDir()
	path := filepath.Join(dir, "big.vmdk")
	qemuImg(t, "create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", path, "4100M")
	testutil.Run(t, "qemu-io", "-f", "vmdk",
		"-c", "write -P 0x11 0 64k",
		"-c", "write -P 0x22 2146430976 12k", // across the first boundary, 2047 MiB - 4 KiB
		"-c", "write -P 0x33 4292866048 8k", // 4094 MiB - 4 KiB
		"-c", "write -P 0x44 4299161088 512", // the last sector
		path)
	raw := filepath.Join(dir, "big.raw")
	qemuImg(t, "convert", "-O", "raw", path, raw)
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if det := DetailsOf(d); len(det.Files) != 3 {
		t.Errorf("details %+v, want 3 extent files", det)
	}
	compareWithFile(t, d, raw)
}

// TestVMDKDescriptorExtents reads a hand-written descriptor joining flat
// extents (one at an offset into its file), a sparse one and a zero one.
// QEMU 7.2 skips ZERO extents, so qemu-img checks the descriptor without
// it and the test's own expectation the one with it.
func TestVMDKDescriptorExtents(t *testing.T) {
	dir := t.TempDir()
	pattern := func(name string, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i>>9)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := pattern("a.img", 1<<20), pattern("b.img", 2<<20)
	src, c := writeRawFixture(t, t.TempDir())
	qemuImg(t, "convert", "-f", "raw", "-O", "vmdk", src, filepath.Join(dir, "c.vmdk"))
	write := func(name string, zero bool) string {
		desc := "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n" +
			"RW 2048 FLAT \"a.img\" 0\n" +
			"RDONLY 2048 FLAT \"b.img\" 2048\n" +
			fmt.Sprintf("RW %d SPARSE \"c.vmdk\"\n", rawFixtureSize/512)
		if zero {
			desc += "RW 1024 ZERO\n"
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(desc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if det := checkAgainstQemu(t, write("joined.vmdk", false), VMDK); len(det.Files) != 3 || det.Unit != "grain" {
		t.Errorf("details %+v", det)
	}
	d, err := Open(write("zero.vmdk", true), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := append(append(append(append([]byte(nil), a...), b[1<<20:]...), c...), make([]byte, 512<<10)...)
	checkDisk(t, d, want)
}

// compareWithFile compares a disk with a raw file in pieces.
func compareWithFile(t *testing.T, d Disk, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Size() != d.Size() {
		t.Fatalf("Size = %d, raw file has %d", d.Size(), fi.Size())
	}
	a, b := make([]byte, 8<<20), make([]byte, 8<<20)
	for off := int64(0); off < d.Size(); off += int64(len(a)) {
		n, err := d.ReadAt(a, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		m, _ := f.ReadAt(b[:n], off)
		if m != n || !bytes.Equal(a[:n], b[:n]) {
			t.Fatalf("contents differ in the 8 MiB from %d", off)
		}
	}
}

func TestVMDKConfinement(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.img")
	if err := os.WriteFile(outside, bytes.Repeat([]byte("secret"), 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.img")); err != nil {
		t.Fatal(err)
	}
	descriptor := func(extent string) string {
		return "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n" +
			"RW 8 FLAT \"" + extent + "\" 0\n"
	}
	for _, tc := range []struct{ name, extent string }{
		{"dotdot", "../" + filepath.Base(filepath.Dir(outside)) + "/secret.img"},
		{"absolute", outside},
		{"symlink", "link.img"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".vmdk")
			if err := os.WriteFile(path, []byte(descriptor(tc.extent)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			checkErr(t, err, ErrFormat, "outside the descriptor's directory")
		})
	}
}

func TestVMDKHostile(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	sparse := readFile(t, convertTo(t, src, VMDK, "disk.vmdk"))
	stream := readFile(t, convertTo(t, src, VMDK, "disk.vmdk", "-o", "subformat=streamOptimized"))
	le := binary.LittleEndian
	edit := func(img []byte, f func(b []byte)) []byte {
		b := append([]byte(nil), img...)
		f(b)
		return b
	}
	gd := int(le.Uint64(sparse[56:]) * 512)
	gt := int(le.Uint32(sparse[gd:]) * 512)
	// QEMU writes streamOptimized files with the grain directory up front.
	firstGrain := func(b []byte) int {
		gd := int(le.Uint64(b[56:]) * 512)
		gt := int(le.Uint32(b[gd:]) * 512)
		return int(le.Uint32(b[gt:]) * 512)
	}
	descriptor := func(text string) []byte {
		return []byte("# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n" + text)
	}
	for _, tc := range []struct {
		name      string
		image     []byte
		sentinel  error
		fragments []string
	}{
		{"gd-past-eof", edit(sparse, func(b []byte) { le.PutUint64(b[56:], 1<<30) }),
			ErrFormat, []string{"grain directory at 0x8000000000"}},
		{"gt-past-eof", edit(sparse, func(b []byte) { le.PutUint32(b[gd:], 1<<30) }),
			ErrFormat, []string{"grain table at 0x8000000000", "past the end"}},
		{"grain-past-eof", edit(sparse, func(b []byte) { le.PutUint32(b[gt:], 1<<30) }),
			ErrFormat, []string{"grain 0 (virtual offset 0x0) is stored at 0x8000000000"}},
		{"gt-used-twice", edit(sparse, func(b []byte) {
			// Twice the capacity needs a second grain table; the
			// directory names the first one again.
			le.PutUint64(b[12:], 2*uint64(le.Uint32(b[44:]))*le.Uint64(b[20:]))
			copy(b[gd+4:], b[gd:gd+4])
		}), ErrFormat, []string{"is used twice by the grain directory"}},
		{"huge-grain", edit(sparse, func(b []byte) { le.PutUint64(b[20:], 1<<40) }),
			ErrFormat, []string{"grain of 1099511627776 sectors"}},
		{"huge-gt", edit(sparse, func(b []byte) { le.PutUint32(b[44:], 1<<20) }),
			ErrFormat, []string{"1048576 entries per grain table"}},
		{"huge-capacity", edit(sparse, func(b []byte) { le.PutUint64(b[12:], 1<<50); le.PutUint32(b[44:], 1) }),
			ErrUnsupported, []string{"grain directory of"}},
		{"newline-test", edit(sparse, func(b []byte) { b[75] = '\n' }),
			ErrFormat, []string{"line-end test bytes"}},
		{"no-footer", edit(stream, func(b []byte) { le.PutUint64(b[56:], vmdkGDAtEnd) }), ErrFormat, []string{"no footer"}},
		{"grain-marker-size", edit(stream, func(b []byte) { le.PutUint32(b[firstGrain(b)+8:], 1<<30) }),
			ErrFormat, []string{"compressed grain for virtual offset 0x0", "grain marker"}},
		{"grain-bomb", edit(stream, func(b []byte) {
			// A grain that inflates to twice a grain; the rest of the file follows it.
			at := firstGrain(b)
			var z bytes.Buffer
			w := zlib.NewWriter(&z)
			w.Write(make([]byte, 128<<10))
			w.Close()
			le.PutUint32(b[at+8:], uint32(z.Len()))
			copy(b[at+12:], z.Bytes())
		}), ErrFormat, []string{"inflates to more than a grain"}},
		{"seSparse", descriptor("createType=\"seSparse\"\nRW 8 SESPARSE \"x.vmdk\"\n"),
			ErrUnsupported, []string{"SESPARSE extents"}},
		{"vmfs", descriptor("createType=\"vmfs\"\nRW 8 VMFS \"x-flat.vmdk\"\n"),
			ErrUnsupported, []string{"VMFS extents"}},
		{"differencing", edit(descriptor("createType=\"monolithicFlat\"\nRW 8 ZERO\n"), func(b []byte) {
			copy(b[bytes.Index(b, []byte("parentCID="))+10:], "0000abcd")
		}), ErrUnsupported, []string{"differencing", "0000abcd"}},
		{"bad-extent-line", descriptor("RW lots FLAT \"x\"\n"), ErrFormat, []string{"line 5", "bad sector count"}},
		{"missing-extent", descriptor("RW 8 FLAT \"nothere.img\" 0\n"), os.ErrNotExist, []string{"nothere.img"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkHostile(t, writeFile(t, "bad.vmdk", tc.image), tc.sentinel, tc.fragments...)
		})
	}
}
