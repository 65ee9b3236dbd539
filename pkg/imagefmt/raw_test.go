package imagefmt

import (
	"testing"
)

func TestRaw(t *testing.T) {
	path, want := writeRawFixture(t, t.TempDir())
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Format() != Raw {
		t.Errorf("Format = %q", d.Format())
	}
	checkDisk(t, d, want)
	// The fixture leaves most of the file as holes; file systems without
	// SEEK_HOLE report one whole-file extent instead.
	if n, _ := AllocatedBytes(d); n != d.Size() && n >= d.Size()/2 {
		t.Errorf("AllocatedBytes = %d of %d", n, d.Size())
	}
}
