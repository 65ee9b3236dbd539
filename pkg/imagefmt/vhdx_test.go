package imagefmt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

func TestVHDXMatchesQemu(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	for _, tc := range []struct {
		name, subformat string
		opts            []string
	}{
		{"dynamic", "dynamic", nil},
		{"fixed", "fixed", []string{"-o", "subformat=fixed"}},
		{"1M-blocks", "dynamic", []string{"-o", "block_size=1M"}},
		{"no-zero-state", "dynamic", []string{"-o", "block_state_zero=off,block_size=2M"}},
		{"big-log", "dynamic", []string{"-o", "log_size=4M"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			det := checkAgainstQemu(t, convertTo(t, src, VHDX, "disk.vhdx", tc.opts...), VHDX)
			if det.Subformat != tc.subformat || det.SectorSize != 512 || !strings.Contains(det.Creator, "QEMU") {
				t.Errorf("details %+v", det)
			}
		})
	}
}

// vhdxLayout finds the structures of a vhdx file for the tests to edit.
type vhdxLayout struct {
	header     int // offset of the current header
	logAt      int
	batAt      int
	metaAt     int // metadata region
	blockSize  int
	sectorSize int // offset of the logical sector size item
}

func layoutOf(t testing.TB, b []byte) vhdxLayout {
	t.Helper()
	le := binary.LittleEndian
	var l vhdxLayout
	l.header = 64 << 10
	if le.Uint64(b[128<<10+8:]) > le.Uint64(b[64<<10+8:]) {
		l.header = 128 << 10
	}
	l.logAt = int(le.Uint64(b[l.header+72:]))
	rt := b[192<<10:]
	for i := range int(le.Uint32(rt[8:])) {
		e := rt[16+32*i:]
		switch [16]byte(e[:16]) {
		case vhdxBATRegion:
			l.batAt = int(le.Uint64(e[16:]))
		case vhdxMetadataRegion:
			l.metaAt = int(le.Uint64(e[16:]))
		}
	}
	m := b[l.metaAt:]
	for i := range int(le.Uint16(m[10:])) {
		e := m[32+32*i:]
		at := l.metaAt + int(le.Uint32(e[16:]))
		switch [16]byte(e[:16]) {
		case vhdxFileParameters:
			l.blockSize = int(le.Uint32(b[at:]))
		case vhdxLogicalSectorSize:
			l.sectorSize = at
		}
	}
	if l.batAt == 0 || l.blockSize == 0 || l.sectorSize == 0 {
		t.Fatalf("fixture layout %+v", l)
	}
	return l
}

// reseal recomputes the CRC-32C of the vhdx structure of n bytes at at.
func reseal(b []byte, at, n int) {
	binary.LittleEndian.PutUint32(b[at+4:], crc32cWithout(b[at:at+n]))
}

// TestVHDX4KSectors: QEMU does not read vhdx files with 4 KiB logical
// sectors, so the reference is the same image with 512-byte sectors. The
// BAT only differs beyond 32 GiB, where its sector bitmap entries fall.
func TestVHDX4KSectors(t *testing.T) {
	testutil.RequireTool(t, "qemu-io")
	path := filepath.Join(t.TempDir(), "4k.vhdx")
	qemuImg(t, "create", "-q", "-f", "vhdx", "-o", "block_size=1M", path, "8M")
	testutil.Run(t, "qemu-io", "-f", "vhdx", "-c", "write -P 0x61 0 8k", "-c", "write -P 0x62 3M 1M", path)
	want := qemuRaw(t, path)
	b := readFile(t, path)
	binary.LittleEndian.PutUint32(b[layoutOf(t, b).sectorSize:], 4096)
	d, err := NewVHDX(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	checkDisk(t, d, want)
	if det := DetailsOf(d); det.SectorSize != 4096 {
		t.Errorf("details %+v", det)
	}
}

// TestVHDX4KSectorsPastAChunk: with 4 KiB sectors a chunk covers 32 GiB,
// so the BAT's sector bitmap entries sit elsewhere than with 512-byte
// ones. The fixture is a 40 GiB qemu-img image with data on both sides of
// both chunk boundaries, its sector size patched and its BAT laid out
// again the 4 KiB way; the reference is qemu-img's reading of the
// original. Every byte is compared but for the holes both agree on.
func TestVHDX4KSectorsPastAChunk(t *testing.T) {
	testutil.RequireTool(t, "qemu-io")
	dir := t.TempDir()
	path := filepath.Join(dir, "512.vhdx")
	qemuImg(t, "create", "-q", "-f", "vhdx", "-o", "block_size=1M", path, "40G")
	testutil.Run(t, "qemu-io", "-f", "vhdx",
		"-c", "write -P 0x61 0 8k",
		"-c", "write -P 0x62 4095M 2M", // across the 512-byte sectors' first chunk boundary
		"-c", "write -P 0x63 32767M 2M", // across the 4 KiB sectors' one
		"-c", "write -P 0x64 40959M 1M", // the last block
		path)
	// qemu-img's vhdx driver reports every block as data; a qcow2 it
	// converts the image to holds the clusters it read data in.
	qcow := filepath.Join(dir, "want.qcow2")
	qemuImg(t, "convert", "-O", "qcow2", path, qcow)
	raw := filepath.Join(dir, "want.raw")
	qemuImg(t, "convert", "-O", "raw", qcow, raw)

	b := readFile(t, path)
	l := layoutOf(t, b)
	le := binary.LittleEndian
	const blocks, mib = 40 << 10, 1 << 20
	entries := make([]uint64, blocks)
	for i := range entries {
		entries[i] = le.Uint64(b[l.batAt+8*(i+i/4096):]) // 512-byte sectors: 4096 blocks a chunk
	}
	clear(b[l.batAt : l.batAt+8*(blocks+blocks/4096)])
	for i, e := range entries {
		le.PutUint64(b[l.batAt+8*(i+i/32768):], e) // 4 KiB sectors: 32768 blocks a chunk
	}
	le.PutUint32(b[l.sectorSize:], 4096)
	d, err := NewVHDX(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if det := DetailsOf(d); det.SectorSize != 4096 || d.Size() != 40<<30 {
		t.Fatalf("details %+v, size %d", det, d.Size())
	}
	ext, err := d.Extents()
	if err != nil {
		t.Fatal(err)
	}
	wantExt := []Extent{{0, mib}, {4095 * mib, 2 * mib}, {32767 * mib, 2 * mib}, {40959 * mib, mib}}
	if !slices.Equal(ext, wantExt) {
		t.Fatalf("extents %v, want %v", ext, wantExt)
	}
	// qemu-img read data in these blocks only.
	var qemuMap []struct {
		Start, Length int64
		Data          bool
	}
	if err := json.Unmarshal([]byte(qemuImg(t, "map", "--output=json", qcow)), &qemuMap); err != nil {
		t.Fatal(err)
	}
	var qemuExt []Extent
	for _, m := range qemuMap {
		if n := len(qemuExt); m.Data && n > 0 && qemuExt[n-1].Offset+qemuExt[n-1].Length == m.Start {
			qemuExt[n-1].Length += m.Length
		} else if m.Data {
			qemuExt = append(qemuExt, Extent{m.Start, m.Length})
		}
	}
	for _, q := range qemuExt {
		if !slices.ContainsFunc(ext, func(e Extent) bool { return e.Offset <= q.Offset && q.Offset+q.Length <= e.Offset+e.Length }) {
			t.Fatalf("qemu-img read data at %+v, outside the extents %v", q, ext)
		}
	}
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, want := make([]byte, 2*mib), make([]byte, 2*mib)
	for _, e := range ext {
		if _, err := d.ReadAt(got[:e.Length], e.Offset); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(want[:e.Length], e.Offset); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:e.Length], want[:e.Length]) {
			t.Fatalf("the extent %+v differs at byte %d", e, firstDiff(got[:e.Length], want[:e.Length]))
		}
	}
	// A hole reads as zeros.
	if _, err := d.ReadAt(got, 20<<30); err != nil || !bytes.Equal(got, make([]byte, len(got))) {
		t.Fatalf("the hole at 20 GiB: %v", err)
	}
}

// TestVHDXBitmapEntries reads blocks past the first chunk (4 GiB with
// 512-byte sectors), whose BAT entries come after a sector bitmap entry.
func TestVHDXBitmapEntries(t *testing.T) {
	testutil.RequireTool(t, "qemu-io")
	dir := t.TempDir()
	path := filepath.Join(dir, "big.vhdx")
	qemuImg(t, "create", "-q", "-f", "vhdx", "-o", "block_size=1M", path, "4200M")
	testutil.Run(t, "qemu-io", "-f", "vhdx",
		"-c", "write -P 0x71 4095M 2M", // the last block of chunk 0 and the first of chunk 1
		"-c", "write -P 0x72 4199M 1M",
		path)
	raw := filepath.Join(dir, "big.raw")
	qemuImg(t, "convert", "-O", "raw", path, raw)
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	compareWithFile(t, d, raw)
}

// logEntry builds a vhdx log entry: writes are 4 KiB sectors by file
// offset, zeros are ranges.
type logWrite struct {
	at     int64
	sector []byte
}

func buildLogEntry(seq uint64, tail uint32, guid [16]byte, flushed, last int64, writes []logWrite, zeros []Extent) []byte {
	le := binary.LittleEndian
	count := len(writes) + len(zeros)
	descArea := (64 + 32*count + 4095) / 4096 * 4096
	e := make([]byte, descArea+4096*len(writes))
	copy(e, "loge")
	le.PutUint32(e[8:], uint32(len(e)))
	le.PutUint32(e[12:], tail)
	le.PutUint64(e[16:], seq)
	le.PutUint32(e[24:], uint32(count))
	copy(e[32:], guid[:])
	le.PutUint64(e[48:], uint64(flushed))
	le.PutUint64(e[56:], uint64(last))
	d := 64
	for i, w := range writes {
		copy(e[d:], "desc")
		copy(e[d+4:d+8], w.sector[4092:])
		copy(e[d+8:d+16], w.sector[:8])
		le.PutUint64(e[d+16:], uint64(w.at))
		le.PutUint64(e[d+24:], seq)
		s := e[descArea+4096*i:]
		copy(s, "data")
		le.PutUint32(s[4:], uint32(seq>>32))
		copy(s[8:4092], w.sector[8:4092])
		le.PutUint32(s[4092:], uint32(seq))
		d += 32
	}
	for _, z := range zeros {
		copy(e[d:], "zero")
		le.PutUint64(e[d+8:], uint64(z.Length))
		le.PutUint64(e[d+16:], uint64(z.Offset))
		le.PutUint64(e[d+24:], seq)
		d += 32
	}
	reseal(e, 0, len(e))
	return e
}

// dirtyVHDX returns a copy of the clean dynamic vhdx (1 MiB blocks, block
// 0 allocated, block 2 not) whose log holds one entry that writes a sector
// into block 0, zeroes 8 KiB of it, and allocates block 2 past the end of
// the file with a sector in it.
func dirtyVHDX(t testing.TB, clean []byte) []byte {
	l := layoutOf(t, clean)
	le := binary.LittleEndian
	block0 := int64(le.Uint64(clean[l.batAt:]) >> 20 << 20)
	if block0 == 0 || le.Uint64(clean[l.batAt+16:])&7 == vhdxFullyPresent {
		t.Fatalf("fixture: block 0 at %#x, block 2 entry %#x", block0, le.Uint64(clean[l.batAt+16:]))
	}
	newBlock := (int64(len(clean)) + vhdxMB - 1) &^ (vhdxMB - 1)
	batSector := append([]byte(nil), clean[l.batAt:l.batAt+4096]...)
	le.PutUint64(batSector[16:], uint64(newBlock)|vhdxFullyPresent)
	pattern := func(s string) []byte { return bytes.Repeat([]byte(s), 4096/len(s)) }
	guid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	// LastFileOffset short of the block's end: QEMU grows the file to it
	// rounded up to 1 MiB, but (7.2) not at all when it is aligned.
	entry := buildLogEntry(7, 0, guid, int64(len(clean)), newBlock+vhdxMB-4096,
		[]logWrite{
			{block0 + 8192, pattern("replayed")},
			{int64(l.batAt), batSector},
			{newBlock + 4096, pattern("new blk!")},
		},
		[]Extent{{Offset: block0 + 16384, Length: 8192}})
	dirty := append([]byte(nil), clean...)
	copy(dirty[l.logAt:], entry)
	copy(dirty[l.header+48:], guid[:])
	reseal(dirty, l.header, vhdxHeaderSize)
	return dirty
}

// dirtyFixture is dirtyVHDX of the raw fixture, and that clean image.
func dirtyFixture(t *testing.T) (dirty, clean []byte) {
	src, _ := writeRawFixture(t, t.TempDir())
	clean = readFile(t, convertTo(t, src, VHDX, "disk.vhdx", "-o", "block_size=1M"))
	return dirtyVHDX(t, clean), clean
}

func TestVHDXDirtyLog(t *testing.T) {
	testutil.RequireTool(t, "qemu-io")
	dirty, clean := dirtyFixture(t)
	path := writeFile(t, "dirty.vhdx", dirty)
	before := sha256.Sum256(dirty)

	// qemu-img refuses to read it without replaying the log, which it
	// does only when it may write: replay a copy with qemu-io.
	out, err := exec(t, "qemu-img", "info", path)
	if err == nil || !strings.Contains(out, "log") {
		t.Fatalf("qemu-img info of the dirty image: %v\n%s", err, out)
	}
	replayed := writeFile(t, "replayed.vhdx", dirty)
	testutil.Run(t, "qemu-io", "-f", "vhdx", "-c", "quit", replayed)
	want := qemuRaw(t, replayed)
	if bytes.Equal(want, qemuRaw(t, writeFile(t, "clean.vhdx", clean))) {
		t.Fatal("the log changed nothing")
	}

	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	checkDisk(t, d, want)
	if det := DetailsOf(d); !det.LogReplayed {
		t.Errorf("details %+v do not say the log was replayed", det)
	}
	if after := sha256.Sum256(readFile(t, path)); after != before {
		t.Fatal("reading the image changed it")
	}
}

// TestVHDXBadLog: a log entry failing its checksum is not a valid
// sequence, so nothing is replayed, as QEMU does.
func TestVHDXBadLog(t *testing.T) {
	dirty, clean := dirtyFixture(t)
	l := layoutOf(t, dirty)
	dirty[l.logAt+100] ^= 1
	d, err := NewVHDX(bytes.NewReader(dirty), int64(len(dirty)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	checkDisk(t, d, qemuRaw(t, writeFile(t, "clean.vhdx", clean)))
}

func TestVHDXHostile(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	good := readFile(t, convertTo(t, src, VHDX, "disk.vhdx", "-o", "block_size=1M"))
	l := layoutOf(t, good)
	le := binary.LittleEndian
	edit := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	fileParams := func(b []byte) int { // offset of the file parameters item
		m := b[l.metaAt:]
		for i := range int(le.Uint16(m[10:])) {
			if e := m[32+32*i:]; [16]byte(e[:16]) == vhdxFileParameters {
				return l.metaAt + int(le.Uint32(e[16:]))
			}
		}
		t.Fatal("no file parameters")
		return 0
	}
	sizeItem := func(b []byte) int {
		m := b[l.metaAt:]
		for i := range int(le.Uint16(m[10:])) {
			if e := m[32+32*i:]; [16]byte(e[:16]) == vhdxVirtualDiskSize {
				return l.metaAt + int(le.Uint32(e[16:]))
			}
		}
		t.Fatal("no size")
		return 0
	}
	for _, tc := range []struct {
		name      string
		image     []byte
		sentinel  error
		fragments []string
	}{
		{"header-crc", edit(func(b []byte) { b[64<<10+100] ^= 1; b[128<<10+100] ^= 1 }),
			ErrFormat, []string{"header at 0x10000 fails its CRC-32C", "header at 0x20000 fails"}},
		{"region-crc", edit(func(b []byte) { b[192<<10+100] ^= 1; b[256<<10+100] ^= 1 }),
			ErrFormat, []string{"region table at 0x30000 fails its CRC-32C"}},
		{"bat-past-eof", edit(func(b []byte) { le.PutUint64(b[l.batAt:], 1<<40|vhdxFullyPresent) }),
			ErrFormat, []string{"BAT entry for block 0 points to 0x10000000000"}},
		{"block-size", edit(func(b []byte) { le.PutUint32(b[fileParams(b):], 3<<20) }),
			ErrFormat, []string{"block size 3145728"}},
		{"parent", edit(func(b []byte) { le.PutUint32(b[fileParams(b)+4:], 2) }),
			ErrUnsupported, []string{"differencing"}},
		{"metadata-item-outside", edit(func(b []byte) {
			m := b[l.metaAt:]
			le.PutUint32(m[32+16:], 1<<30) // the first item's offset
		}), ErrFormat, []string{"lies outside the metadata region"}},
		{"huge-size", edit(func(b []byte) { le.PutUint64(b[sizeItem(b):], 1<<50) }),
			ErrFormat, []string{"over 64 TiB"}},
		{"huge-bat", edit(func(b []byte) { le.PutUint64(b[sizeItem(b):], 60<<40) }),
			ErrUnsupported, []string{"larger than 64 MiB"}},
		{"partially-present", edit(func(b []byte) { le.PutUint64(b[l.batAt:], le.Uint64(b[l.batAt:])|7) }),
			ErrUnsupported, []string{"partially present"}},
		{"log-past-eof", edit(func(b []byte) {
			b[l.header+48] = 1 // a log GUID: the log must be read
			le.PutUint64(b[l.header+72:], 1<<40)
			reseal(b, l.header, vhdxHeaderSize)
		}), ErrFormat, []string{"log at 0x10000000000"}},
		{"log-huge", edit(func(b []byte) {
			b[l.header+48] = 1
			le.PutUint32(b[l.header+68:], 1<<31)
			reseal(b, l.header, vhdxHeaderSize)
		}), ErrUnsupported, []string{"log of 2048 MiB"}},
		{"truncated", good[:len(good)-(1<<20)], ErrFormat, []string{"outside the file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkHostile(t, writeFile(t, "bad.vhdx", tc.image), tc.sentinel, tc.fragments...)
		})
	}
}

// exec runs a command and returns its combined output and error, for
// commands expected to fail.
func exec(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := osexec.Command(testutil.RequireTool(t, name), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
