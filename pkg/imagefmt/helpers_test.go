package imagefmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// rawFixtureSize is deliberately not a multiple of the 64 KiB cluster.
const rawFixtureSize = 8<<20 + 1536

// writeRawFixture writes a sparse raw disk with random (incompressible)
// and repetitive (compressible) data, explicit zeros and holes, and
// returns its path and contents.
func writeRawFixture(t testing.TB, dir string) (string, []byte) {
	t.Helper()
	data := make([]byte, rawFixtureSize)
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(off, n int) {
		for i := range n {
			data[off+i] = byte(rng.Uint32())
		}
	}
	random(0, 64<<10)
	copy(data[1<<20:1<<20+200<<10], bytes.Repeat([]byte("colinux qcow2 test pattern "), 200<<10/27+1))
	random(3<<20+100, 1000)
	random(5<<20, 1<<20)
	random(rawFixtureSize-1536, 1536)

	path := filepath.Join(dir, "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(rawFixtureSize); err != nil {
		t.Fatal(err)
	}
	// Write only the non-zero 64 KiB blocks, so the rest stays a hole.
	const blk = 64 << 10
	for off := 0; off < len(data); off += blk {
		b := data[off:min(off+blk, len(data))]
		if !bytes.Equal(b, make([]byte, len(b))) {
			if _, err := f.WriteAt(b, int64(off)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path, data
}

// qemuImg runs qemu-img and returns its output.
func qemuImg(t testing.TB, args ...string) string {
	t.Helper()
	return testutil.Run(t, "qemu-img", args...)
}

// qemuVirtualSize asks qemu-img for an image's virtual size; extra
// arguments go before the path (-f vpc: qemu-img probes a fixed vhd as
// raw).
func qemuVirtualSize(t *testing.T, path string, args ...string) int64 {
	t.Helper()
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	args = append(append([]string{"info", "--output=json"}, args...), path)
	if err := json.Unmarshal([]byte(qemuImg(t, args...)), &info); err != nil {
		t.Fatal(err)
	}
	return info.VirtualSize
}

// qemuRaw converts an image to raw with qemu-img and returns its bytes;
// extra arguments go before the path.
func qemuRaw(t *testing.T, path string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.raw")
	qemuImg(t, append(append([]string{"convert", "-O", "raw"}, args...), path, out)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readDisk reads a whole disk in uneven chunks, so reads start and end
// inside clusters.
func readDisk(t *testing.T, d Disk) []byte {
	t.Helper()
	out := make([]byte, d.Size())
	const chunk = 1<<20 + 4097
	for off := int64(0); off < d.Size(); off += chunk {
		n, err := d.ReadAt(out[off:min(off+chunk, d.Size())], off)
		if err != nil && !(err == io.EOF && off+int64(n) == d.Size()) {
			t.Fatalf("ReadAt(%d): %d, %v", off, n, err)
		}
	}
	if n, err := d.ReadAt(make([]byte, 1), d.Size()); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(Size) = %d, %v; want 0, EOF", n, err)
	}
	return out
}

// checkDisk reads d whole and compares it with want, then checks that its
// extents are well formed and cover every non-zero byte.
func checkDisk(t *testing.T, d Disk, want []byte) []Extent {
	t.Helper()
	if d.Size() != int64(len(want)) {
		t.Fatalf("Size = %d, want %d", d.Size(), len(want))
	}
	if got := readDisk(t, d); !bytes.Equal(got, want) {
		t.Fatalf("contents differ at byte %d", firstDiff(got, want))
	}
	ext, err := d.Extents()
	if err != nil {
		t.Fatalf("Extents: %v", err)
	}
	masked := make([]byte, len(want))
	var end int64
	for _, e := range ext {
		if e.Offset < end || e.Length <= 0 || e.Offset+e.Length > d.Size() {
			t.Fatalf("bad extent %+v after end %d, size %d", e, end, d.Size())
		}
		end = e.Offset + e.Length
		copy(masked[e.Offset:end], want[e.Offset:end])
	}
	if !bytes.Equal(masked, want) {
		t.Fatalf("extents %v miss data at byte %d", ext, firstDiff(masked, want))
	}
	return ext
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkErr asserts that err wraps sentinel and mentions every one of the
// given fragments.
func checkErr(t *testing.T, err, sentinel error, fragments ...string) {
	t.Helper()
	t.Logf("error: %v", err)
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap %v", err, sentinel)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

// convertTo converts the raw fixture at src to format with qemu-img
// convert options, into name in a fresh directory, and returns its path.
func convertTo(t testing.TB, src string, format Format, name string, opts ...string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	args := append([]string{"convert", "-f", "raw", "-O", string(format)}, opts...)
	qemuImg(t, append(args, src, dst)...)
	return dst
}

// checkAgainstQemu opens path and checks that it has the format, the
// virtual size and the bytes qemu-img finds, and returns its details.
func checkAgainstQemu(t *testing.T, path string, format Format) Details {
	t.Helper()
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Format() != format {
		t.Errorf("Format = %q, want %q", d.Format(), format)
	}
	if size := qemuVirtualSize(t, path, "-f", string(format)); d.Size() != size {
		t.Errorf("Size = %d, qemu-img says %d", d.Size(), size)
	}
	checkDisk(t, d, qemuRaw(t, path, "-f", string(format)))
	return DetailsOf(d)
}

// readFile reads a file whole.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile writes b to a new file named name in a fresh directory.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkHostile opens a malformed image, expects an error wrapping
// sentinel that mentions each fragment (from Open, Extents or a whole
// read), and checks that the attempt stayed within memBound bytes of
// allocations.
func checkHostile(t *testing.T, path string, sentinel error, fragments ...string) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := openAndReadAll(path)
	runtime.ReadMemStats(&after)
	checkErr(t, err, sentinel, fragments...)
	if n := after.TotalAlloc - before.TotalAlloc; n > memBound {
		t.Errorf("reading the hostile image allocated %d bytes", n)
	}
}

// memBound is what reading one small hostile image may allocate: its
// tables and a few blocks, not what the image claims.
const memBound = 96 << 20

// openAndReadAll opens path, lists its extents and reads the disk in
// 1 MiB pieces, returning the first error.
func openAndReadAll(path string) error {
	d, err := Open(path, Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Extents(); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < d.Size(); off += int64(len(buf)) {
		if _, err := d.ReadAt(buf, off); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
