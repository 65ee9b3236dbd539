package imagefmt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/ulikunitz/xz"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/internal/osfile"
)

const xzMagic = "\xfd7zXZ\x00"

// holeBlock is the granularity at which zeros in a decompressed image are
// left as holes instead of written: file systems allocate in 4 KiB blocks.
const holeBlock = 4096

// xzChunk is how much is decompressed between two looks at the context:
// the pure-Go decoder manages a few MB/s, so Ctrl-C is seen well within a
// second.
const xzChunk = 256 << 10

func probeXZ(head []byte, _ io.ReaderAt, _ int64) bool {
	return bytes.HasPrefix(head, []byte(xzMagic))
}

// openXZ decompresses the xz-compressed raw disk into an unlinked sparse
// temporary file and serves that. xz streams cannot be read at an offset,
// so a random-access Disk needs the whole payload somewhere. The payload
// size the stream's index declares is checked against the free space of
// the temporary directory first, and the decompressor may not write more.
// A payload that is itself a qcow2 image is served as raw bytes, as
// `xz -d` would give them. The image's file is closed once decompressed.
func openXZ(img *image) (Disk, error) {
	declared, err := xzDeclaredSize(img.r, img.size)
	if err != nil {
		return nil, err
	}
	dir := os.TempDir()
	if free, ok := freeSpace(dir); ok && free < declared {
		return nil, fmt.Errorf("xz: the image unpacks to %d bytes and %s has %d free; set TMPDIR to a roomier directory or unpack it with xz -dk first", declared, dir, free)
	}
	// Nameless, the copy goes away with the last descriptor however the
	// process ends.
	tmp, err := osfile.CreateScratch(dir, "imagefmt-xz-*")
	if err != nil {
		return nil, err
	}
	atomicfile.MarkSparse(tmp)
	if err := unxz(img.ctx, tmp, io.NewSectionReader(img.r, 0, img.size), declared); err != nil {
		tmp.Close()
		return nil, err
	}
	if img.f != nil {
		img.f.Close()
	}
	return &rawDisk{r: tmp, f: tmp, size: declared, format: XZ}, nil
}

// unxz decompresses src into dst, seeking over zero blocks so that they
// stay holes. It stops with an error when the stream would give more than
// limit bytes or ctx is cancelled.
func unxz(ctx context.Context, dst *os.File, src io.Reader, limit int64) error {
	zr, err := xz.NewReader(bufio.NewReaderSize(src, 1<<20))
	if err != nil {
		return errorf(ErrFormat, "xz: %v", err)
	}
	// Whole buffers keep the blocks 4 KiB aligned in the output.
	buf := make([]byte, xzChunk)
	zero := make([]byte, holeBlock)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := fill(zr, buf)
		if int64(n) > limit-off {
			return errorf(ErrFormat, "xz: the stream holds more than the %d bytes its index declares", limit)
		}
		for b := buf[:n]; len(b) > 0; {
			k := blockRun(b, zero, true)
			off, b = off+int64(k), b[k:]
			k = blockRun(b, zero, false)
			if _, err := dst.WriteAt(b[:k], off); err != nil {
				return err
			}
			off, b = off+int64(k), b[k:]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return errorf(ErrFormat, "xz: after %d decompressed bytes: %v", off, rerr)
		}
	}
	if off != limit {
		return errorf(ErrFormat, "xz: the stream holds %d bytes, its index declares %d", off, limit)
	}
	// Trailing zeros were skipped, not written.
	if err := dst.Truncate(off); err != nil {
		return fmt.Errorf("xz: sizing the decompressed copy: %w", err)
	}
	return nil
}

// fill reads into buf until it is full or r fails; unlike io.ReadFull it
// keeps a truncated stream's io.ErrUnexpectedEOF apart from a clean end.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// blockRun returns the length of the leading blocks of b that are all
// zeros, if zeros is set, or that all hold data otherwise. zero is a block
// of zeros.
func blockRun(b, zero []byte, zeros bool) int {
	k := 0
	for k < len(b) {
		blk := b[k:min(k+len(zero), len(b))]
		if bytes.Equal(blk, zero[:len(blk)]) != zeros {
			break
		}
		k += len(blk)
	}
	return k
}

// xzDeclaredSize adds up the uncompressed sizes recorded in the indexes of
// the xz streams in r, read from the end: each stream ends with a footer
// that says where its index starts (xz file format 1.1.0, sections 2.1.2
// and 4). Stream padding between and after streams is skipped.
func xzDeclaredSize(r io.ReaderAt, size int64) (int64, error) {
	var total int64
	end := size
	for end > 0 {
		// Stream padding: multiples of four zero bytes.
		var word [4]byte
		if end >= 4 {
			if _, err := r.ReadAt(word[:], end-4); err != nil {
				return 0, readError(XZ, err, "stream padding", end-4)
			}
			if word == [4]byte{} {
				end -= 4
				continue
			}
		}
		var footer [12]byte
		if end < 24 {
			return 0, errorf(ErrFormat, "xz: %d bytes before offset %d cannot hold a stream", end, end)
		}
		if _, err := r.ReadAt(footer[:], end-12); err != nil {
			return 0, readError(XZ, err, "stream footer", end-12)
		}
		if string(footer[10:]) != "YZ" || crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[:]) {
			return 0, errorf(ErrFormat, "xz: no valid stream footer at offset %d", end-12)
		}
		indexSize := (int64(binary.LittleEndian.Uint32(footer[4:])) + 1) * 4
		indexStart := end - 12 - indexSize
		switch {
		case indexSize > xzMaxIndex:
			return 0, errorf(ErrUnsupported, "xz: index of %d bytes before offset %d is larger than %d MiB", indexSize, end-12, xzMaxIndex>>20)
		case indexStart < 12:
			return 0, errorf(ErrFormat, "xz: index of %d bytes before offset %d starts before the file", indexSize, end-12)
		}
		index := make([]byte, indexSize)
		if _, err := r.ReadAt(index, indexStart); err != nil {
			return 0, readError(XZ, err, "index", indexStart)
		}
		blocks, uncompressed, err := parseXZIndex(index)
		if err != nil {
			return 0, errorf(ErrFormat, "xz: index at offset %d: %v", indexStart, err)
		}
		start := indexStart - blocks - 12
		var header [6]byte
		if start < 0 {
			return 0, errorf(ErrFormat, "xz: blocks of %d bytes before the index at offset %d start before the file", blocks, indexStart)
		}
		if _, err := r.ReadAt(header[:], start); err != nil || string(header[:]) != xzMagic {
			return 0, errorf(ErrFormat, "xz: no stream header at offset %d, where the index at offset %d says the stream starts", start, indexStart)
		}
		if uncompressed > 1<<62-total {
			return 0, errorf(ErrFormat, "xz: declared uncompressed size overflows")
		}
		total += uncompressed
		end = start
	}
	return total, nil
}

// xzMaxIndex bounds the index read into memory: a record takes a few
// bytes per block of at least a few hundred KiB of data.
const xzMaxIndex = 16 << 20

// parseXZIndex returns the total size of the blocks an xz index lists
// (each padded to four bytes) and their uncompressed size.
func parseXZIndex(index []byte) (blocks, uncompressed int64, err error) {
	body := index[:len(index)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(index[len(body):]) {
		return 0, 0, fmt.Errorf("CRC32 mismatch")
	}
	r := bytes.NewReader(body)
	if c, err := r.ReadByte(); err != nil || c != 0 {
		return 0, 0, fmt.Errorf("no index indicator")
	}
	count, err := xzVarint(r)
	if err != nil || count > uint64(len(body))/2 {
		return 0, 0, fmt.Errorf("bad record count")
	}
	for range count {
		unpadded, err1 := xzVarint(r)
		size, err2 := xzVarint(r)
		if err1 != nil || err2 != nil || unpadded == 0 || unpadded > 1<<62 || size > 1<<62 {
			return 0, 0, fmt.Errorf("bad record")
		}
		blocks += int64(unpadded+3) &^ 3
		uncompressed += int64(size)
		if blocks > 1<<62 || uncompressed > 1<<62 {
			return 0, 0, fmt.Errorf("sizes overflow")
		}
	}
	// What is left is padding to a multiple of four bytes, all zeros.
	if r.Len() > 3 {
		return 0, 0, fmt.Errorf("%d bytes left after the records", r.Len())
	}
	for r.Len() > 0 {
		if c, _ := r.ReadByte(); c != 0 {
			return 0, 0, fmt.Errorf("non-zero padding")
		}
	}
	return blocks, uncompressed, nil
}

// xzVarint reads a multibyte integer as xz encodes it: seven bits a byte,
// low first, at most nine bytes.
func xzVarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, fmt.Errorf("non-minimal integer")
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("integer longer than nine bytes")
}
