package imagefmt

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// sparseImage is a fuzz input read as a file: records of [offset u32 LE]
// [length u16 LE][bytes] laid over zeros, so that a few KiB of input
// describe the megabytes a vhdx or vdi layout spans, and the fuzzer can
// move structures around by mutating offsets. Offsets are taken modulo
// 8 MiB (room for QEMU's vhdx layout): a file of gigabytes would let each
// run read tables of the readers' full limits and the fuzzer crawl.
type sparseImage struct {
	size    int64
	patches []sparsePatch
}

const sparseMax = 8 << 20

type sparsePatch struct {
	off int64
	b   []byte
}

func decodeSparse(data []byte) *sparseImage {
	s := &sparseImage{}
	for len(data) >= 6 {
		off := int64(binary.LittleEndian.Uint32(data) & (sparseMax - 1))
		n := min(int(binary.LittleEndian.Uint16(data[4:])), len(data)-6)
		s.patches = append(s.patches, sparsePatch{off, data[6 : 6+n]})
		s.size = max(s.size, off+int64(n))
		data = data[6+n:]
	}
	return s
}

// encodeSparse turns an image into records of its non-zero sectors.
func encodeSparse(img []byte) []byte {
	var out []byte
	zero := make([]byte, 512)
	for off := 0; off < len(img); {
		end := min(off+512, len(img))
		if bytes.Equal(img[off:end], zero[:end-off]) && end < len(img) {
			off = end
			continue
		}
		start := off
		for off < len(img) && off-start < 65024 {
			e := min(off+512, len(img))
			if bytes.Equal(img[off:e], zero[:e-off]) && e < len(img) {
				break
			}
			off = e
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(start))
		out = binary.LittleEndian.AppendUint16(out, uint16(off-start))
		out = append(out, img[start:off]...)
	}
	return out
}

func (s *sparseImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	for _, x := range s.patches {
		if x.off < off+int64(n) && x.off+int64(len(x.b)) > off {
			lo := max(x.off, off)
			copy(p[lo-off:n], x.b[lo-x.off:])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

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
	return encodeSparse(b)
}

func FuzzVHD(f *testing.F) {
	f.Add(qemuSeed(f, VHD, "", "3M", "write -P 1 0 4k", "write -P 2 2M 4k"))
	f.Add(qemuSeed(f, VHD, "subformat=fixed", "64k", "write -P 3 512 1k"))
	f.Add(qemuSeed(f, VHD, "force_size=on", "1M", "write -P 4 0 512"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := decodeSparse(data)
		if d, err := NewVHD(s, s.size); err == nil {
			defer d.Close()
			exerciseDisk(t, d)
		}
	})
}

func FuzzVDI(f *testing.F) {
	f.Add(qemuSeed(f, VDI, "", "3M", "write -P 1 0 4k", "write -P 2 2M 4k"))
	f.Add(qemuSeed(f, VDI, "static=on", "1M", "write -P 3 512 1k"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := decodeSparse(data)
		if d, err := NewVDI(s, s.size); err == nil {
			defer d.Close()
			exerciseDisk(t, d)
		}
	})
}

func FuzzVHDX(f *testing.F) {
	f.Add(qemuSeed(f, VHDX, "block_size=1M", "3M", "write -P 1 0 4k", "write -P 2 2M 4k"))
	f.Add(qemuSeed(f, VHDX, "subformat=fixed,block_size=1M", "1M", "write -P 3 512 1k"))
	clean := decodeSparse(qemuSeed(f, VHDX, "block_size=1M", "4M", "write -P 6 0 4k"))
	b := make([]byte, clean.size)
	clean.ReadAt(b, 0)
	f.Add(encodeSparse(dirtyVHDX(f, b)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := decodeSparse(data)
		if d, err := NewVHDX(s, s.size); err == nil {
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
	f.Add(encodeSparse([]byte(desc)))
	sparse := decodeSparse(qemuSeed(f, VMDK, "", "64k", "write -P 5 0 4k"))
	s := make([]byte, sparse.size)
	sparse.ReadAt(s, 0)
	dir := fstest.MapFS{
		"f.img":  {Data: bytes.Repeat([]byte("flat"), 16<<10)},
		"s.vmdk": {Data: s},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := decodeSparse(data)
		if d, err := NewVMDK(s, s.size, dir); err == nil {
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
