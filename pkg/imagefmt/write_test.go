package imagefmt

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// TestWriteQemuReads writes the raw fixture in every format Write knows
// and checks the result with qemu-img compare and qemu-img check, then
// reads it back with this package.
func TestWriteQemuReads(t *testing.T) {
	src, want := writeRawFixture(t, t.TempDir())
	for _, tc := range []struct {
		name     string
		format   Format
		compress string
	}{
		{"qcow2", QCOW2, ""},
		{"qcow2-zlib", QCOW2, "zlib"},
		{"qcow2-zstd", QCOW2, "zstd"},
		{"vhdx", VHDX, ""},
		{"vmdk", VMDK, ""},
		{"vdi", VDI, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out."+string(tc.format))
			writeImage(t, src, out, tc.format, tc.compress)
			testutil.Run(t, "qemu-img", "compare", "-f", "raw", "-F", string(tc.format), src, out)
			testutil.Run(t, "qemu-img", "check", "-f", string(tc.format), out)
			d, err := Open(out, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			checkDisk(t, d, want)
			if tc.compress != "" {
				if det := DetailsOf(d); det.Compression != tc.compress {
					t.Errorf("details %+v", det)
				}
				if fi, _ := os.Stat(out); fi.Size() > int64(len(want))/2 {
					t.Errorf("compressed image of %d bytes for %d of disk", fi.Size(), len(want))
				}
			}
		})
	}
}

// TestWriteLibyalReads reads the VHDX and VMDK exports with libyal's
// libvhdi and libvmdk, through their Python bindings: readers that share no
// code with qemu's or ours, as Hyper-V, WSL and VirtualBox share none.
func TestWriteLibyalReads(t *testing.T) {
	src, want := writeRawFixture(t, t.TempDir())
	for _, tc := range []struct {
		format      Format
		pkg, module string
		open        string // Python: open the image at path as d
	}{
		{VHDX, "python3-libvhdi", "pyvhdi", "d = pyvhdi.file(); d.open(path)"},
		{VMDK, "python3-libvmdk", "pyvmdk", "d = pyvmdk.handle(); d.open(path); d.open_extent_data_files()"},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out."+string(tc.format))
			writeImage(t, src, out, tc.format, "")
			got := libyalDigest(t, tc.pkg, tc.module, tc.open, out)
			if wantSum := fmt.Sprintf("%d %x", len(want), sha256.Sum256(want)); got != wantSum {
				t.Errorf("%s reads %q, want %q", tc.module, got, wantSum)
			}
		})
	}
}

// libyalDigest opens the image at path with a libyal Python module and
// returns "<media size> <sha256 of the media>". Debian's python3 is asked
// by its path: the module is installed for it, not for another python3
// that may come first in PATH.
func libyalDigest(t *testing.T, pkg, module, open, path string) string {
	t.Helper()
	const python = "/usr/bin/python3"
	if _, err := exec(t, python, "-c", "import "+module); err != nil {
		testutil.Require(t, false, pkg+" is not installed")
	}
	script := `import hashlib, sys, ` + module + `
path = sys.argv[1]
` + open + `
size, off, h = d.get_media_size(), 0, hashlib.sha256()
while off < size:
    b = d.read_buffer_at_offset(min(1 << 20, size - off), off)
    if not b:
        sys.exit("short read at %d" % off)
    h.update(b)
    off += len(b)
print(size, h.hexdigest())
`
	return strings.TrimSpace(testutil.Run(t, python, "-c", script, path))
}

// writeImage writes the image at src into out as format.
func writeImage(t *testing.T, src, out string, format Format, compress string) {
	t.Helper()
	d, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var done int64
	opt := WriteOptions{Compress: compress, Name: filepath.Base(out), Progress: func(n int64) { done += n }}
	if err := Write(context.Background(), f, d, format, opt); err != nil {
		t.Fatal(err)
	}
	if done != d.Size() {
		t.Errorf("progress reached %d of %d", done, d.Size())
	}
}

func TestWriteVMDKIsStreamOptimized(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	out := filepath.Join(t.TempDir(), "out.vmdk")
	writeImage(t, src, out, VMDK, "")
	info := testutil.Run(t, "qemu-img", "info", out)
	if !strings.Contains(info, "create type: streamOptimized") || !strings.Contains(info, "compressed: true") {
		t.Errorf("qemu-img info says\n%s", info)
	}
}
