package imagefmt

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// lseek whence values that find data and holes in a sparse file (Linux,
// FreeBSD, Solaris). The syscall package does not name them.
const (
	seekData = 3
	seekHole = 4
)

// rawDisk is a disk stored byte for byte in a file.
type rawDisk struct {
	f      *os.File
	size   int64
	format Format
}

// newRaw serves f as a raw disk; format is what Format reports, as an xz
// image is served from its decompressed copy.
func newRaw(f *os.File, format Format) (*rawDisk, error) {
	// Seek rather than Stat so that block devices report their size.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	return &rawDisk{f: f, size: size, format: format}, nil
}

func (d *rawDisk) Format() Format { return d.format }
func (d *rawDisk) Size() int64    { return d.size }
func (d *rawDisk) Close() error   { return d.f.Close() }

// ReadAt uses pread, which leaves the file offset alone, so it is safe for
// concurrent use alongside Extents.
func (d *rawDisk) ReadAt(p []byte, off int64) (int, error) {
	return d.f.ReadAt(p, off)
}

// Extents asks the file system where the data is. Where it cannot tell,
// the whole file may hold data.
func (d *rawDisk) Extents() ([]Extent, error) {
	var ext []Extent
	for off := int64(0); off < d.size; {
		start, err := d.f.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // no data after off
		}
		if err != nil {
			return d.whole(), nil
		}
		end, err := d.f.Seek(start, seekHole)
		if err != nil {
			return d.whole(), nil
		}
		end = min(end, d.size)
		if start >= end {
			break
		}
		ext = append(ext, Extent{Offset: start, Length: end - start})
		off = end
	}
	return ext, nil
}

func (d *rawDisk) whole() []Extent {
	if d.size == 0 {
		return nil
	}
	return []Extent{{Offset: 0, Length: d.size}}
}
