package testutil

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// XZDeclaring rewrites a single-stream, single-block xz file (as xz -T1
// writes it, without sizes in the block header) so that its index
// declares size uncompressed bytes: a stream that lies about what it
// unpacks to.
func XZDeclaring(t testing.TB, xz []byte, size uint64) []byte {
	t.Helper()
	le := binary.LittleEndian
	footer := xz[len(xz)-12:]
	indexLen := (int(le.Uint32(footer[4:])) + 1) * 4
	index := xz[len(xz)-12-indexLen : len(xz)-12]
	if index[0] != 0 || index[1] != 1 {
		t.Fatalf("the xz fixture's index lists %d blocks, not one", index[1])
	}
	// The record: the block's unpadded size, kept, and its uncompressed
	// size, replaced.
	n := 1
	for index[1+n]&0x80 != 0 {
		n++
	}
	body := append([]byte{0, 1}, index[2:2+n]...)
	body = appendUvarint(body, size)
	body = append(body, make([]byte, -len(body)&3)...)
	newIndex := le.AppendUint32(body, crc32.ChecksumIEEE(body))
	out := append([]byte(nil), xz[:len(xz)-12-indexLen]...)
	out = append(out, newIndex...)
	tail := le.AppendUint32(nil, uint32(len(newIndex)/4-1))
	tail = append(tail, footer[8:10]...)
	out = le.AppendUint32(out, crc32.ChecksumIEEE(tail))
	out = append(out, tail...)
	return append(out, "YZ"...)
}

// appendUvarint appends an xz integer: seven bits a byte, low first.
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
