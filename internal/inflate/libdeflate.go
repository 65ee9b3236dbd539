//go:build cgo && !purego

package inflate

/*
#cgo LDFLAGS: -ldeflate
#include <libdeflate.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Available says whether libdeflate is built in.
const Available = true

// decompressor wraps libdeflate's, which holds ~10 KiB of tables and is
// not safe for concurrent use: one per goroutine at a time, from a pool,
// freed when the pool drops it.
type decompressor struct {
	c *C.struct_libdeflate_decompressor
}

var decompressors = sync.Pool{New: func() any {
	d := &decompressor{C.libdeflate_alloc_decompressor()}
	if d.c == nil {
		return (*decompressor)(nil)
	}
	runtime.AddCleanup(d, func(c *C.struct_libdeflate_decompressor) { C.libdeflate_free_decompressor(c) }, d.c)
	return d
}}

// Raw decompresses the raw deflate stream at the start of in (bytes after
// its end are ignored) into out. It reports true only when the stream is
// valid and decompresses to exactly len(out) bytes; out is then filled.
func Raw(out, in []byte) bool {
	if len(out) == 0 || len(in) == 0 {
		return false
	}
	d := decompressors.Get().(*decompressor)
	if d == nil {
		return false
	}
	defer decompressors.Put(d)
	r := C.libdeflate_deflate_decompress(d.c, unsafe.Pointer(unsafe.SliceData(in)), C.size_t(len(in)),
		unsafe.Pointer(unsafe.SliceData(out)), C.size_t(len(out)), nil)
	return r == C.LIBDEFLATE_SUCCESS
}

// Zlib decompresses the zlib stream at the start of in into out, checking
// its Adler-32, and returns how many bytes it wrote. It reports false when
// the stream is damaged or holds more than len(out) bytes.
func Zlib(out, in []byte) (int, bool) {
	if len(out) == 0 || len(in) == 0 {
		return 0, false
	}
	d := decompressors.Get().(*decompressor)
	if d == nil {
		return 0, false
	}
	defer decompressors.Put(d)
	var n C.size_t
	r := C.libdeflate_zlib_decompress(d.c, unsafe.Pointer(unsafe.SliceData(in)), C.size_t(len(in)),
		unsafe.Pointer(unsafe.SliceData(out)), C.size_t(len(out)), &n)
	if r != C.LIBDEFLATE_SUCCESS {
		return 0, false
	}
	return int(n), true
}
