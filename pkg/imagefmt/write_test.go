package imagefmt

import (
	"context"
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
