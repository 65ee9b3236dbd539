package imagefmt

import (
	"io"
	"os"
)

// rawDisk is a disk stored byte for byte in a file.
type rawDisk struct {
	r      io.ReaderAt
	f      *os.File // nil when r is not a file
	size   int64
	format Format
	// details describe the container when the raw data sits in one
	// (a fixed vhd).
	details Details
}

func openRaw(img *image) (Disk, error) {
	return &rawDisk{r: img.r, f: img.f, size: img.size, format: Raw}, nil
}

func (d *rawDisk) Format() Format { return d.format }
func (d *rawDisk) Size() int64    { return d.size }

func (d *rawDisk) Details() Details { return d.details }

func (d *rawDisk) Close() error {
	if d.f == nil {
		return nil
	}
	return d.f.Close()
}

// ReadAt uses pread, which leaves the file offset alone, so it is safe for
// concurrent use alongside Extents. It stops at size, before a container's
// trailer.
func (d *rawDisk) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	if int64(len(p)) > d.size-off {
		n, err := d.r.ReadAt(p[:d.size-off], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return d.r.ReadAt(p, off)
}

// Extents asks the file system where the data is. Where it cannot tell,
// the whole file may hold data.
func (d *rawDisk) Extents() ([]Extent, error) {
	if d.f != nil {
		// Clipped to size: a container's trailer (the fixed vhd
		// footer) may follow the data.
		if ext, ok := dataExtents(d.f, d.size); ok {
			return ext, nil
		}
	}
	if d.size == 0 {
		return nil, nil
	}
	return []Extent{{Offset: 0, Length: d.size}}, nil
}

// MapRange maps the whole disk to its file.
func (d *rawDisk) MapRange(off, n int64) (Mapping, error) {
	return Mapping{Length: min(n, d.size-off), File: d.f, Offset: off}, nil
}
