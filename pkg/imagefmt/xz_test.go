package imagefmt

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

func TestXZ(t *testing.T) {
	dir := t.TempDir()
	src, want := writeRawFixture(t, dir)
	testutil.Run(t, "xz", "-k", "-T1", src)
	path := src + ".xz"

	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Format() != XZ {
		t.Errorf("Format = %q", d.Format())
	}
	checkDisk(t, d, want)
	// Zeros are left as holes in the decompressed copy.
	if n, _ := AllocatedBytes(d); n >= d.Size()/2 {
		t.Errorf("AllocatedBytes = %d of %d", n, d.Size())
	}

	t.Run("truncated", func(t *testing.T) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(t.TempDir(), "cut.raw.xz")
		if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Open(cut, Options{})
		checkErr(t, err, ErrFormat, cut, "xz: ")
	})
}
