package imagefmt

import (
	"io"
	"sort"
)

// concatDisk joins disks end to end, as a vmdk descriptor joins its
// extents. A part without a disk reads as zeros.
type concatDisk struct {
	parts   []part // in order, each starting where the previous ends
	size    int64
	format  Format
	details Details
	closers []io.Closer
}

type part struct {
	off, size int64
	d         Disk // nil: zeros
}

func (c *concatDisk) Format() Format   { return c.format }
func (c *concatDisk) Size() int64      { return c.size }
func (c *concatDisk) Details() Details { return c.details }

func (c *concatDisk) Close() error {
	var err error
	for _, x := range c.closers {
		if cerr := x.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// find returns the part holding virtual offset off, which is within the disk.
func (c *concatDisk) find(off int64) part {
	i := sort.Search(len(c.parts), func(i int) bool { return c.parts[i].off+c.parts[i].size > off })
	return c.parts[i]
}

func (c *concatDisk) ReadAt(p []byte, off int64) (int, error) {
	p, eof, err := clipRead(c.format, p, off, c.size)
	if err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		at := off + int64(done)
		x := c.find(at)
		b := p[done:min(len(p), done+int(x.off+x.size-at))]
		if x.d == nil {
			clear(b)
		} else if n, err := x.d.ReadAt(b, at-x.off); n < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done + n, err
		}
		done += len(b)
	}
	return len(p), eof
}

func (c *concatDisk) Extents() ([]Extent, error) {
	var ext []Extent
	for _, x := range c.parts {
		if x.d == nil {
			continue
		}
		pe, err := x.d.Extents()
		if err != nil {
			return nil, err
		}
		for _, e := range pe {
			ext = appendExtent(ext, Extent{Offset: x.off + e.Offset, Length: e.Length})
		}
	}
	return ext, nil
}

func (c *concatDisk) MapRange(off, n int64) (Mapping, error) {
	x := c.find(off)
	n = min(n, x.off+x.size-off)
	if x.d == nil {
		return Mapping{Length: n, Zero: true}, nil
	}
	if m, ok := x.d.(Mapper); ok {
		return m.MapRange(off-x.off, n)
	}
	return Mapping{Length: n}, nil
}
