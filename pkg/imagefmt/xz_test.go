package imagefmt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestXZLies: a stream whose index declares less than it unpacks to is
// stopped at the declared size (a bomb), and one that declares more than
// the temporary directory can take is refused before any work, naming
// TMPDIR.
func TestXZLies(t *testing.T) {
	dir := t.TempDir()
	src, _ := writeRawFixture(t, dir)
	testutil.Run(t, "xz", "-k", "-T1", src)
	good := readFile(t, src+".xz")

	bomb := writeFile(t, "bomb.raw.xz", testutil.XZDeclaring(t, good, 1<<20))
	checkHostile(t, bomb, ErrFormat, "holds more than the 1048576 bytes its index declares")

	huge := writeFile(t, "huge.raw.xz", testutil.XZDeclaring(t, good, 1<<61))
	start := time.Now()
	_, err := Open(huge, Options{})
	if err == nil || !strings.Contains(err.Error(), "unpacks to 2305843009213693952 bytes") || !strings.Contains(err.Error(), "set TMPDIR") {
		t.Fatalf("got %v, want a refusal naming the size and TMPDIR", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the refusal took %v; it comes before any decompression", took)
	}
}
