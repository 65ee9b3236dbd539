package release

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The seek table follows zstd's seekable format (contrib/seekable_format in
// the zstd sources): a skippable frame, which `zstd -d` passes over, holding
// one entry per frame and a footer:
//
//	magic 0x184D2A5E | size u32 | entries {compressed u32, raw u32} | frames u32 | descriptor u8 | magic 0x8F92EAB1
//
// All integers little-endian; this package writes no per-frame checksums
// (the frames carry zstd's own, the index the SHA256s).
const (
	skippableMagic = 0x184D2A5E
	seekableMagic  = 0x8F92EAB1
	seekFooterSize = 9
	seekEntrySize  = 8
	checksumFlag   = 0x80
	reservedBits   = 0x7C

	minFrameSize = 1 << 20
	maxFrameSize = 1 << 30
	maxFrames    = 1 << 24
)

// Frame is one independent zstd frame of a compressed image.
type Frame struct {
	Offset, CompressedSize int64 // in the compressed file
	RawOffset, RawSize     int64 // in the image
	// SHA256s of the compressed and raw bytes, from the signed index
	// (the seek table has none).
	CompressedSHA256, SHA256 string
}

func seekTableSize(frames int) int64 { return 8 + int64(frames)*seekEntrySize + seekFooterSize }

// appendSeekTable appends the skippable frame describing frames.
func appendSeekTable(dst []byte, frames []Frame) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, skippableMagic)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(frames)*seekEntrySize+seekFooterSize))
	for _, f := range frames {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(f.CompressedSize))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(f.RawSize))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(frames)))
	dst = append(dst, 0)
	return binary.LittleEndian.AppendUint32(dst, seekableMagic)
}

// ReadSeekTable reads the seek table at the end of a compressed image of
// size bytes and returns its frames, checking that they tile the file
// exactly up to the table. name labels errors.
func ReadSeekTable(r io.ReaderAt, size int64, name string) ([]Frame, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: seek table: %s: %w", name, fmt.Sprintf(format, a...), ErrFormat)
	}
	if size < 8+seekFooterSize {
		return nil, bad("file of %d bytes is too short", size)
	}
	var foot [seekFooterSize]byte
	if _, err := r.ReadAt(foot[:], size-seekFooterSize); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m := binary.LittleEndian.Uint32(foot[5:]); m != seekableMagic {
		return nil, bad("no seekable magic at offset %d (found %#x)", size-4, m)
	}
	desc := foot[4]
	if desc&reservedBits != 0 {
		return nil, bad("reserved descriptor bits set (%#x)", desc)
	}
	entry := int64(seekEntrySize)
	if desc&checksumFlag != 0 {
		entry += 4
	}
	n := int64(binary.LittleEndian.Uint32(foot[:4]))
	tableSize := 8 + n*entry + seekFooterSize
	if n == 0 || n > maxFrames || tableSize > size {
		return nil, bad("%d frames do not fit in %d bytes", n, size)
	}
	table := make([]byte, tableSize-seekFooterSize)
	start := size - tableSize
	if _, err := r.ReadAt(table, start); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m := binary.LittleEndian.Uint32(table); m != skippableMagic {
		return nil, bad("no skippable frame at offset %d (found %#x)", start, m)
	}
	if fs := int64(binary.LittleEndian.Uint32(table[4:])); fs != tableSize-8 {
		return nil, bad("frame size %d, expected %d", fs, tableSize-8)
	}
	frames := make([]Frame, n)
	var off, raw int64
	for i := range frames {
		e := table[8+int64(i)*entry:]
		c := int64(binary.LittleEndian.Uint32(e))
		d := int64(binary.LittleEndian.Uint32(e[4:]))
		if c == 0 {
			return nil, bad("frame %d is empty", i)
		}
		frames[i] = Frame{Offset: off, CompressedSize: c, RawOffset: raw, RawSize: d}
		off += c
		raw += d
	}
	if off != start {
		return nil, bad("frames end at %d, the table starts at %d", off, start)
	}
	return frames, nil
}

// sameFrames checks that a compressed file's seek table agrees with the
// frames its index lists.
func sameFrames(table, want []Frame, name string) error {
	if len(table) != len(want) {
		return fmt.Errorf("%s: seek table lists %d frames, the index %d: %w", name, len(table), len(want), ErrFormat)
	}
	for i := range table {
		if table[i].CompressedSize != want[i].CompressedSize || table[i].RawSize != want[i].RawSize {
			return fmt.Errorf("%s: seek table entry %d differs from the index: %w", name, i, ErrFormat)
		}
	}
	return nil
}
