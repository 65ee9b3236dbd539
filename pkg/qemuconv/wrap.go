package qemuconv

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/colinux-ng/colinux/pkg/imagefmt"
)

// The disk WrapGPT makes: the filesystem at 1 MiB, as partition 1 of a
// GPT, typed Linux root (x86-64) so that systemd and the kernel's
// root=PARTUUID find it; the backup table after it, the disk's size a
// whole number of MiB.
const (
	wrapStart   = 1 << 20
	gptEntries  = 128
	gptEntrySz  = 128
	gptArrayLBA = (gptEntries * gptEntrySz) / sectorSize // 32 sectors
)

// WrapGPT returns the bare filesystem image fs as a whole disk with a GPT
// around it. The GUIDs derive from the filesystem's UUID and size, so the
// same image always gets the same disk.
func WrapGPT(fs imagefmt.Disk) imagefmt.Disk {
	fsSize := (fs.Size() + sectorSize - 1) / sectorSize * sectorSize
	total := (wrapStart + fsSize + (1+gptArrayLBA)*sectorSize + wrapStart - 1) / wrapStart * wrapStart
	sectors := total / sectorSize
	seed := sha256.Sum256(fmt.Appendf(nil, "coimage gpt %s %d", DetectFS(fs, 0, fs.Size()).UUID, fs.Size()))
	diskGUID, partGUID := guid(seed[:16]), guid(seed[16:])

	entries := make([]byte, gptEntries*gptEntrySz)
	copy(entries, gptGUIDBytes(string(gpt.LinuxRootX86_64)))
	copy(entries[16:], partGUID[:])
	le := binary.LittleEndian
	le.PutUint64(entries[32:], wrapStart/sectorSize)
	le.PutUint64(entries[40:], uint64((wrapStart+fsSize)/sectorSize-1))
	for i, c := range utf16.Encode([]rune("root")) {
		le.PutUint16(entries[56+2*i:], c)
	}
	arrayCRC := crc32.ChecksumIEEE(entries)

	header := func(my, alternate, array int64) []byte {
		h := make([]byte, sectorSize)
		copy(h, "EFI PART")
		le.PutUint32(h[8:], 0x00010000)
		le.PutUint32(h[12:], 92)
		le.PutUint64(h[24:], uint64(my))
		le.PutUint64(h[32:], uint64(alternate))
		le.PutUint64(h[40:], 2+gptArrayLBA)                 // first usable
		le.PutUint64(h[48:], uint64(sectors-2-gptArrayLBA)) // last usable
		copy(h[56:], diskGUID[:])
		le.PutUint64(h[72:], uint64(array))
		le.PutUint32(h[80:], gptEntries)
		le.PutUint32(h[84:], gptEntrySz)
		le.PutUint32(h[88:], arrayCRC)
		le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	// Protective MBR, primary header and array.
	head := make([]byte, (2+gptArrayLBA)*sectorSize)
	p := head[446:]
	p[4] = 0xEE
	le.PutUint32(p[8:], 1)
	le.PutUint32(p[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	p[2], p[3], p[5], p[6], p[7] = 0x02, 0x00, 0xFF, 0xFF, 0xFF // CHS: start 0/0/2, end maxed
	head[510], head[511] = 0x55, 0xAA
	copy(head[sectorSize:], header(1, sectors-1, 2))
	copy(head[2*sectorSize:], entries)
	// Backup array and header at the end.
	tail := append(append([]byte(nil), entries...), header(sectors-1, 1, sectors-1-gptArrayLBA)...)
	return &wrappedDisk{fs: fs, size: total, head: head, tail: tail, tailAt: total - int64(len(tail))}
}

// guid turns 16 bytes into a random-style (version 4) GUID.
func guid(b []byte) [16]byte {
	var g [16]byte
	copy(g[:], b)
	g[7] = g[7]&0x0f | 0x40 // version 4 (bytes 6-7 are little-endian on disk)
	g[8] = g[8]&0x3f | 0x80 // RFC 4122 variant
	return g
}

// gptGUIDBytes encodes a GUID's text as GPT stores it: the first three
// groups little-endian.
func gptGUIDBytes(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID " + s)
	}
	b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7] = b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]
	return b
}

// wrappedDisk is a filesystem image inside a made-up GPT disk.
type wrappedDisk struct {
	fs         imagefmt.Disk
	size       int64
	head, tail []byte
	tailAt     int64
}

func (d *wrappedDisk) Format() imagefmt.Format { return d.fs.Format() }
func (d *wrappedDisk) Size() int64             { return d.size }
func (d *wrappedDisk) Close() error            { return d.fs.Close() }

func (d *wrappedDisk) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > d.size-off {
		p, eof = p[:d.size-off], io.EOF
	}
	clear(p)
	end := off + int64(len(p))
	if off < int64(len(d.head)) {
		copy(p, d.head[off:])
	}
	if lo, hi := max(off, wrapStart), min(end, wrapStart+d.fs.Size()); lo < hi {
		if n, err := d.fs.ReadAt(p[lo-off:hi-off], lo-wrapStart); n < int(hi-lo) {
			return 0, err
		}
	}
	if end > d.tailAt {
		lo := max(off, d.tailAt)
		copy(p[lo-off:], d.tail[lo-d.tailAt:])
	}
	return len(p), eof
}

func (d *wrappedDisk) Extents() ([]imagefmt.Extent, error) {
	inner, err := d.fs.Extents()
	if err != nil {
		return nil, err
	}
	ext := []imagefmt.Extent{{Offset: 0, Length: int64(len(d.head))}}
	for _, e := range inner {
		ext = append(ext, imagefmt.Extent{Offset: wrapStart + e.Offset, Length: e.Length})
	}
	return append(ext, imagefmt.Extent{Offset: d.tailAt, Length: int64(len(d.tail))}), nil
}
