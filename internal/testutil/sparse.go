package testutil

import (
	"bytes"
	"encoding/binary"
	"io"
)

// SparseImage is a fuzz input read as a file: records of [offset u32 LE]
// [length u16 LE][bytes] laid over zeros, so that a few KiB of input
// describe the megabytes a vhdx or vdi layout spans, and the fuzzer can
// move structures around by mutating offsets. Offsets are taken modulo
// 8 MiB (room for QEMU's vhdx layout): a file of gigabytes would let each
// run read tables of the readers' full limits and the fuzzer crawl.
type SparseImage struct {
	size    int64
	patches []sparsePatch
}

const sparseMax = 8 << 20

type sparsePatch struct {
	off int64
	b   []byte
}

// DecodeSparse reads a fuzz input as a SparseImage.
func DecodeSparse(data []byte) *SparseImage {
	s := &SparseImage{}
	for len(data) >= 6 {
		off := int64(binary.LittleEndian.Uint32(data) & (sparseMax - 1))
		n := min(int(binary.LittleEndian.Uint16(data[4:])), len(data)-6)
		s.patches = append(s.patches, sparsePatch{off, data[6 : 6+n]})
		s.size = max(s.size, off+int64(n))
		data = data[6+n:]
	}
	return s
}

// EncodeSparse turns an image into records of its non-zero sectors, a
// seed for a fuzz target reading SparseImages.
func EncodeSparse(img []byte) []byte {
	var out []byte
	zero := make([]byte, 512)
	for off := 0; off < len(img); {
		end := min(off+512, len(img))
		if bytes.Equal(img[off:end], zero[:end-off]) && end < len(img) {
			off = end
			continue
		}
		start := off
		for off < len(img) && off-start < 65024 {
			e := min(off+512, len(img))
			if bytes.Equal(img[off:e], zero[:e-off]) && e < len(img) {
				break
			}
			off = e
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(start))
		out = binary.LittleEndian.AppendUint16(out, uint16(off-start))
		out = append(out, img[start:off]...)
	}
	return out
}

// Size is the file size: the end of the furthest record.
func (s *SparseImage) Size() int64 { return s.size }

func (s *SparseImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	for _, x := range s.patches {
		if x.off < off+int64(n) && x.off+int64(len(x.b)) > off {
			lo := max(x.off, off)
			copy(p[lo-off:n], x.b[lo-x.off:])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
