package imagefmt

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// exerciseDisk checks what must hold for any disk a reader accepts:
// extents within the disk, reads that fill the buffer or end at the disk's
// end, mappings that advance.
func exerciseDisk(t *testing.T, d Disk) {
	t.Helper()
	ext, err := d.Extents()
	if err == nil {
		var end int64
		for _, e := range ext {
			if e.Offset < end || e.Length <= 0 || e.Offset+e.Length > d.Size() {
				t.Fatalf("extent %+v after %d, size %d", e, end, d.Size())
			}
			end = e.Offset + e.Length
		}
	}
	buf := make([]byte, 64<<10)
	for _, off := range []int64{0, 1000, d.Size() / 2, d.Size() - 5000} {
		if off < 0 {
			continue
		}
		n, err := d.ReadAt(buf, off)
		if n > len(buf) || (err == nil && n != len(buf)) {
			t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
		}
		if err == io.EOF && off+int64(n) != max(off, d.Size()) {
			t.Fatalf("ReadAt(%d) = %d, EOF before size %d", off, n, d.Size())
		}
		if m, ok := d.(Mapper); ok && off < d.Size() {
			r, err := m.MapRange(off, 1<<20)
			if err == nil && (r.Length <= 0 || r.Length > min(1<<20, d.Size()-off)) {
				t.Fatalf("MapRange(%d) = %+v", off, r)
			}
		}
	}
}

// qemuSeed makes a small image with qemu-img create and qemu-io writes and
// returns it encoded for the sparse fuzz targets.
func qemuSeed(f *testing.F, format Format, opts, size string, writes ...string) []byte {
	f.Helper()
	path := filepath.Join(f.TempDir(), "seed")
	args := []string{"create", "-q", "-f", string(format)}
	if opts != "" {
		args = append(args, "-o", opts)
	}
	testutil.Run(f, "qemu-img", append(args, path, size)...)
	if len(writes) > 0 {
		io := []string{"-f", string(format)}
		for _, w := range writes {
			io = append(io, "-c", w)
		}
		testutil.Run(f, "qemu-io", append(io, path)...)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return testutil.EncodeSparse(b)
}

func FuzzVHD(f *testing.F) {
	f.Add(qemuSeed(f, VHD, "", "3M", "write -P 1 0 4k", "write -P 2 2M 4k"))
	f.Add(qemuSeed(f, VHD, "subformat=fixed", "64k", "write -P 3 512 1k"))
	f.Add(qemuSeed(f, VHD, "force_size=on", "1M", "write -P 4 0 512"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := testutil.DecodeSparse(data)
		if d, err := NewVHD(s, s.Size()); err == nil {
			defer d.Close()
			exerciseDisk(t, d)
		}
	})
}

func FuzzVDI(f *testing.F) {
	f.Add(qemuSeed(f, VDI, "", "3M", "write -P 1 0 4k", "write -P 2 2M 4k"))
	f.Add(qemuSeed(f, VDI, "static=on", "1M", "write -P 3 512 1k"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := testutil.DecodeSparse(data)
		if d, err := NewVDI(s, s.Size()); err == nil {
			defer d.Close()
			exerciseDisk(t, d)
		}
	})
}

func FuzzVHDX(f *testing.F) {
	f.Add(qemuSeed(f, VHDX, "block_size=1M", "3M", "write -P 1 0 4k", "write -P 2 2M 4k"))
	f.Add(qemuSeed(f, VHDX, "subformat=fixed,block_size=1M", "1M", "write -P 3 512 1k"))
	clean := testutil.DecodeSparse(qemuSeed(f, VHDX, "block_size=1M", "4M", "write -P 6 0 4k"))
	b := make([]byte, clean.Size())
	clean.ReadAt(b, 0)
	f.Add(testutil.EncodeSparse(dirtyVHDX(f, b)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := testutil.DecodeSparse(data)
		if d, err := NewVHDX(s, s.Size()); err == nil {
			defer d.Close()
			exerciseDisk(t, d)
		}
	})
}

func FuzzVMDK(f *testing.F) {
	f.Add(qemuSeed(f, VMDK, "", "3M", "write -P 1 0 4k", "write -P 2 2M 4k"))
	f.Add(qemuSeed(f, VMDK, "zeroed_grain=on", "1M", "write -P 3 0 128k", "write -z 64k 64k"))
	f.Add(qemuSeed(f, VMDK, "subformat=streamOptimized", "1M", "write -P 4 0 64k"))
	desc := "# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n" +
		"RW 64 FLAT \"f.img\" 16\nRW 16 ZERO\nRW 128 SPARSE \"s.vmdk\"\n"
	f.Add(testutil.EncodeSparse([]byte(desc)))
	sparse := testutil.DecodeSparse(qemuSeed(f, VMDK, "", "64k", "write -P 5 0 4k"))
	s := make([]byte, sparse.Size())
	sparse.ReadAt(s, 0)
	dir := fstest.MapFS{
		"f.img":  {Data: bytes.Repeat([]byte("flat"), 16<<10)},
		"s.vmdk": {Data: s},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := testutil.DecodeSparse(data)
		if d, err := NewVMDK(s, s.Size(), dir); err == nil {
			defer d.Close()
			exerciseDisk(t, d)
		}
	})
}

func FuzzXZIndex(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "x")
	if err := os.WriteFile(path, bytes.Repeat([]byte("index"), 50000), 0o644); err != nil {
		f.Fatal(err)
	}
	one := testutil.Run(f, "xz", "-c", "--block-size=64KiB", path)
	f.Add([]byte(one))
	f.Add([]byte(one + one + "\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := xzDeclaredSize(bytes.NewReader(data), int64(len(data)))
		if err == nil && n < 0 {
			t.Fatalf("declared size %d", n)
		}
	})
}
