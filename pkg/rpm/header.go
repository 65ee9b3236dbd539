// Package rpm reads RPM package files: the lead, the signature header, the
// main header and the payload (a cpio archive, compressed), and checks a
// package's OpenPGP header signature and payload digest. It is a reader
// over io.ReaderAt in the manner of debug/elf: no global state, typed
// sentinel errors, and every count and offset bounded before use, since
// packages come from mirrors.
//
// Layout (rpm's doc/manual/format.md):
//
//	lead         96 bytes, magic ED AB EE DB; otherwise obsolete
//	signature    a header (below), padded to 8 bytes
//	header       a header: name, version, files, dependencies, digests
//	payload      cpio (newc) of the files, compressed (zstd, xz, gzip)
//
// A header is magic 8E AD E8 01, four reserved bytes, the entry count and
// the data size (big-endian uint32 each), then the 16-byte index entries
// (tag, type, offset, count) and the data store they point into.
package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrFormat: the file is not a well-formed RPM package.
var ErrFormat = errors.New("malformed RPM package")

// Header entry types.
const (
	typeNull        = 0
	typeChar        = 1
	typeInt8        = 2
	typeInt16       = 3
	typeInt32       = 4
	typeInt64       = 5
	typeString      = 6
	typeBin         = 7
	typeStringArray = 8
	typeI18NString  = 9
)

// Limits on what a header may declare (rpm's own: hdrchkTags, hdrchkData).
const (
	maxEntries  = 0xffff
	maxData     = 256 << 20
	headerMagic = 0x8eade801
)

// Header is a parsed RPM header. Values are read on demand from its data.
type Header struct {
	entries map[int32]entry
	data    []byte
	// Raw is the header exactly as stored in the file, magic included:
	// what a header-only signature signs and the SHA256 tag digests.
	Raw []byte
}

type entry struct {
	typ, offset, count int32
}

// readHeader reads a header at off in r, a file of fileSize bytes, and
// returns it and its length. name labels errors.
func readHeader(r io.ReaderAt, off, fileSize int64, name string) (*Header, int64, error) {
	var pre [16]byte
	if _, err := r.ReadAt(pre[:], off); err != nil {
		return nil, 0, fmt.Errorf("%s: header at %d: %w", name, off, noEOF(err))
	}
	if binary.BigEndian.Uint32(pre[0:4]) != headerMagic {
		return nil, 0, fmt.Errorf("%s: no header magic at offset %d: %w", name, off, ErrFormat)
	}
	il, dl := binary.BigEndian.Uint32(pre[8:12]), binary.BigEndian.Uint32(pre[12:16])
	if il == 0 || il > maxEntries || dl > maxData {
		return nil, 0, fmt.Errorf("%s: header at %d declares %d entries, %d bytes of data: %w", name, off, il, dl, ErrFormat)
	}
	size := 16 + int64(il)*16 + int64(dl)
	if size > fileSize-off { // before allocating up to maxData for it
		return nil, 0, fmt.Errorf("%s: header at %d (%d bytes): %w", name, off, size, noEOF(io.ErrUnexpectedEOF))
	}
	raw := make([]byte, size)
	if _, err := r.ReadAt(raw, off); err != nil {
		return nil, 0, fmt.Errorf("%s: header at %d (%d bytes): %w", name, off, size, noEOF(err))
	}
	h, err := parseHeader(raw, int(il))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: header at %d: %w", name, off, err)
	}
	return h, size, nil
}

// parseHeader checks every index entry against the data store, so that
// the accessors need no bounds checks of their own.
func parseHeader(raw []byte, il int) (*Header, error) {
	index, data := raw[16:16+il*16], raw[16+il*16:]
	h := &Header{entries: make(map[int32]entry, il), data: data, Raw: raw}
	for i := 0; i < il; i++ {
		b := index[i*16:]
		tag := int32(binary.BigEndian.Uint32(b[0:]))
		e := entry{int32(binary.BigEndian.Uint32(b[4:])), int32(binary.BigEndian.Uint32(b[8:])), int32(binary.BigEndian.Uint32(b[12:]))}
		if e.typ < typeNull || e.typ > typeI18NString || e.count < 0 || e.offset < 0 {
			if isRegion(tag) && e.typ == typeBin { // region trailer offsets are negative by design
				continue
			}
			return nil, fmt.Errorf("entry %d (tag %d): type %d, offset %d, count %d: %w", i, tag, e.typ, e.offset, e.count, ErrFormat)
		}
		if isRegion(tag) {
			continue // the immutable region marker: nothing to read
		}
		if _, err := h.span(e); err != nil {
			return nil, fmt.Errorf("entry %d (tag %d): %w", i, tag, err)
		}
		if _, dup := h.entries[tag]; dup {
			return nil, fmt.Errorf("tag %d twice: %w", tag, ErrFormat)
		}
		h.entries[tag] = e
	}
	return h, nil
}

// Region tags mark the immutable part of a header (signature and main).
func isRegion(tag int32) bool { return tag == 62 || tag == 63 || tag == 61 }

// span returns the bytes of an entry's value, checking it lies inside the
// data store: fixed-size types by count, strings up to their NULs.
func (h *Header) span(e entry) ([]byte, error) {
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("value at %d (type %d, count %d) overruns the %d-byte data store: %w", e.offset, e.typ, e.count, len(h.data), ErrFormat)
	}
	if int(e.offset) > len(h.data) {
		return bad()
	}
	rest := h.data[e.offset:]
	if w, fixed := typeWidth(e.typ); fixed {
		if n := w * int64(e.count); n <= int64(len(rest)) {
			return rest[:n], nil
		}
		return bad()
	}
	strs := int(e.count)
	if e.typ == typeString {
		strs = 1
	}
	end := 0
	for i := 0; i < strs; i++ {
		j := bytes.IndexByte(rest[end:], 0)
		if j < 0 {
			return bad()
		}
		end += j + 1
	}
	return rest[:end], nil
}

// typeWidth is the size of one value of a fixed-size type.
func typeWidth(typ int32) (int64, bool) {
	switch typ {
	case typeNull:
		return 0, true
	case typeChar, typeInt8, typeBin:
		return 1, true
	case typeInt16:
		return 2, true
	case typeInt32:
		return 4, true
	case typeInt64:
		return 8, true
	}
	return 0, false
}

// Has reports whether the header carries tag.
func (h *Header) Has(tag int32) bool { _, ok := h.entries[tag]; return ok }

// String returns a string value (the first of an array, as rpm does for
// STRING lookups of i18n strings).
func (h *Header) String(tag int32) string {
	s := h.Strings(tag)
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Strings returns a string, string array or i18n string value.
func (h *Header) Strings(tag int32) []string {
	e, ok := h.entries[tag]
	if !ok || (e.typ != typeString && e.typ != typeStringArray && e.typ != typeI18NString) {
		return nil
	}
	b, _ := h.span(e)
	if len(b) == 0 { // an array of no strings
		return nil
	}
	return strings.Split(string(b[:len(b)-1]), "\x00")
}

// Ints returns an integer array of any width as int64s.
func (h *Header) Ints(tag int32) []int64 {
	e, ok := h.entries[tag]
	if !ok {
		return nil
	}
	b, _ := h.span(e)
	// Not e.count: a NULL or string entry may claim 2^31 values in no bytes.
	out := make([]int64, 0, min(int(e.count), len(b)))
	for i := 0; i < int(e.count); i++ {
		switch e.typ {
		case typeChar, typeInt8:
			out = append(out, int64(b[i]))
		case typeInt16:
			out = append(out, int64(binary.BigEndian.Uint16(b[2*i:])))
		case typeInt32:
			out = append(out, int64(binary.BigEndian.Uint32(b[4*i:])))
		case typeInt64:
			out = append(out, int64(binary.BigEndian.Uint64(b[8*i:])))
		default:
			return nil
		}
	}
	return out
}

// Int returns the first integer of tag and whether there was one.
func (h *Header) Int(tag int32) (int64, bool) {
	v := h.Ints(tag)
	if len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// Bytes returns a binary value.
func (h *Header) Bytes(tag int32) []byte {
	e, ok := h.entries[tag]
	if !ok || e.typ != typeBin {
		return nil
	}
	b, _ := h.span(e)
	return b
}

func noEOF(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("file ends early: %w", ErrFormat)
	}
	return err
}
