package imagefmt

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// dataExtents asks the file system where f's data is, with SEEK_DATA and
// SEEK_HOLE. ok is false where the file system cannot tell.
func dataExtents(f *os.File, size int64) (ext []Extent, ok bool) {
	for off := int64(0); off < size; {
		start, err := f.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data after off
		}
		if err != nil {
			return nil, false
		}
		end, err := f.Seek(start, unix.SEEK_HOLE)
		if err != nil {
			return nil, false
		}
		end = min(end, size)
		if start >= end {
			break
		}
		ext = append(ext, Extent{Offset: start, Length: end - start})
		off = end
	}
	return ext, true
}
