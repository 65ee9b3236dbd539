package qemuconv

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/imagefmt"
)

// memDisk is an in-memory Disk whose extents are given by the test.
type memDisk struct {
	data    []byte
	extents []imagefmt.Extent
}

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m.data).ReadAt(p, off)
}
func (m *memDisk) Close() error                        { return nil }
func (m *memDisk) Format() imagefmt.Format             { return imagefmt.Raw }
func (m *memDisk) Size() int64                         { return int64(len(m.data)) }
func (m *memDisk) Extents() ([]imagefmt.Extent, error) { return m.extents, nil }

func TestCopyRangeSparseAndExact(t *testing.T) {
	const size = 8 << 20
	data := make([]byte, size)
	rng := rand.New(rand.NewSource(1))
	// Data at an unaligned spot, a long zero run inside an extent, and
	// data straddling a chunk boundary.
	rng.Read(data[100_000:150_000])
	rng.Read(data[(1<<20)-3000 : (1<<20)+5000])
	rng.Read(data[5<<20 : 6<<20])
	disk := &memDisk{data: data, extents: []imagefmt.Extent{
		{Offset: 0, Length: 2 << 20}, // includes zeros that must become holes
		{Offset: 5 << 20, Length: 1 << 20},
	}}
	for _, tc := range []struct {
		name   string
		off, n int64
	}{
		{"whole", 0, size},
		{"sector63", 63 * 512, size - 63*512},
		{"inner", 120_000, 5<<20 + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			var seen atomic.Int64
			if err := CopyRange(context.Background(), disk, tc.off, tc.n, out, func(d int64) { seen.Add(d) }); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
				t.Fatal("output differs from the source range")
			}
			if seen.Load() != tc.n {
				t.Fatalf("progress reported %d bytes, want %d", seen.Load(), tc.n)
			}
			// Only ~1.1 MiB of the range is non-zero; allow a few blocks of slack.
			if alloc := testutil.AllocatedBytes(t, out.Name()); alloc > (1<<20)+200_000 {
				t.Fatalf("output allocates %d bytes; holes were not kept", alloc)
			}
		})
	}
}

func TestCopyRangeRejectsOutOfBounds(t *testing.T) {
	disk := &memDisk{data: make([]byte, 4096)}
	out, _ := os.Create(filepath.Join(t.TempDir(), "out"))
	defer out.Close()
	if err := CopyRange(context.Background(), disk, 1024, 4096, out, nil); err == nil {
		t.Fatal("copy past the end of the disk succeeded")
	}
}

func TestCopyRangeCancelled(t *testing.T) {
	disk := &memDisk{data: bytes.Repeat([]byte{1}, 16<<20), extents: []imagefmt.Extent{{Offset: 0, Length: 16 << 20}}}
	out, _ := os.Create(filepath.Join(t.TempDir(), "out"))
	defer out.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := CopyRange(ctx, disk, 0, 16<<20, out, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestChunksAlignToSource checks that chunks of a source that is not
// stored verbatim end on chunkSize boundaries of the source, where its
// clusters are aligned, even for a range that starts at sector 63: a
// compressed cluster cut by a chunk boundary would be decompressed twice.
func TestChunksAlignToSource(t *testing.T) {
	const off = 63 * 512
	chunks := chunksOf([]imagefmt.Extent{{Offset: 0, Length: 4 << 20}}, off, 4<<20-off, func(int64) bool { return false })
	checkTiling(t, chunks, 4<<20-off)
	for _, c := range chunks {
		if end := off + c.Offset + c.Length; end%chunkSize != 0 {
			t.Fatalf("chunk %v ends at source offset %d, not on a %d-byte boundary", c, end, chunkSize)
		}
	}
}

// TestChunksAlignToOutput checks that chunks of a verbatim source start on
// chunkSize boundaries of the output, so that no two workers write halves
// of one page.
func TestChunksAlignToOutput(t *testing.T) {
	const off = 63 * 512
	chunks := chunksOf([]imagefmt.Extent{{Offset: 0, Length: 4 << 20}}, off, 4<<20-off, func(int64) bool { return true })
	checkTiling(t, chunks, 4<<20-off)
	for _, c := range chunks {
		if c.Offset%chunkSize != 0 {
			t.Fatalf("chunk %v starts at output offset %d, not on a %d-byte boundary", c, c.Offset, chunkSize)
		}
	}
}

// checkTiling checks that chunks are 4 that tile [0, n) in order.
func checkTiling(t *testing.T, chunks []imagefmt.Extent, n int64) {
	t.Helper()
	if len(chunks) != 4 {
		t.Fatalf("got %d chunks, want 4: %v", len(chunks), chunks)
	}
	next := int64(0)
	for _, c := range chunks {
		if c.Offset != next {
			t.Fatalf("chunk at %d, want %d (chunks %v)", c.Offset, next, chunks)
		}
		next = c.Offset + c.Length
	}
	if next != n {
		t.Fatalf("chunks end at %d, want %d", next, n)
	}
}
