package imagefmt

import (
	"io"
	"os"
	"sync"
)

// tableDisk reads the formats that cut a disk into equal blocks and keep a
// table saying where each block lives: vhd, vhdx and vdi blocks, vmdk
// grains. A format supplies locate, and inflate when blocks may be
// compressed; the reading, run merging, extents and mapping are shared.
// Its state after opening is immutable, so ReadAt may run concurrently.
type tableDisk struct {
	r        io.ReaderAt
	fileSize int64
	closer   io.Closer // nil when the caller owns r
	format   Format
	details  Details

	size      int64
	blockSize int64
	// locate returns where block i lives: unallocated and zeroed blocks
	// read as zeros, allocated ones are stored verbatim at host and
	// compressed ones at host, csize bytes at most.
	locate func(i int64) (cluster, error)
	// inflate decompresses one compressed block from in (which may run on
	// past its end) into out, which is one block long.
	inflate func(out, in []byte) error
	// compressedLen, when set, tells from a compressed block's first bytes
	// how long it is, so that no more is read.
	compressedLen func(head []byte) int64
	// emptySpan, when set, tells for a block that reads as zeros how many
	// blocks from it do (a vmdk grain table that is not allocated), so
	// that huge empty stretches are not walked block by block.
	emptySpan func(i int64) int64
	bufs      sync.Pool // scratch for compressed blocks
}

func (d *tableDisk) Format() Format   { return d.format }
func (d *tableDisk) Size() int64      { return d.size }
func (d *tableDisk) Details() Details { return d.details }

func (d *tableDisk) Close() error {
	if d.closer != nil {
		return d.closer.Close()
	}
	return nil
}

// unit names a block in errors: "block", or "grain" in vmdk.
func (d *tableDisk) unit() string {
	if d.details.Unit != "" {
		return d.details.Unit
	}
	return "block"
}

// blockLen is the length of block i: the last one may be cut short by
// the disk's end.
func (d *tableDisk) blockLen(i int64) int64 {
	return min(d.blockSize, d.size-i*d.blockSize)
}

// locateChecked is locate, plus the check that a stored block lies within
// the file.
func (d *tableDisk) locateChecked(i int64) (cluster, error) {
	c, err := d.locate(i)
	if err != nil {
		return c, err
	}
	switch c.kind {
	case allocated:
		if c.host < 0 || c.host > d.fileSize-d.blockLen(i) {
			return c, errorf(ErrFormat, "%s: %s %d (virtual offset %#x) is stored at %#x, past the end of the file (%d bytes)",
				d.format, d.unit(), i, i*d.blockSize, c.host, d.fileSize)
		}
	case compressed:
		if c.host < 0 || c.host >= d.fileSize || c.csize <= 0 {
			return c, errorf(ErrFormat, "%s: compressed %s %d (virtual offset %#x) at %#x lies outside the file (%d bytes)",
				d.format, d.unit(), i, i*d.blockSize, c.host, d.fileSize)
		}
		c.csize = min(c.csize, d.fileSize-c.host)
	}
	return c, nil
}

// mapRun maps [off, off+limit) from its start, stopping where the storage
// changes: a stretch of blocks that read as zeros, that are stored at
// contiguous host offsets, or one compressed block.
func (d *tableDisk) mapRun(off, limit int64) (run, error) {
	i := off / d.blockSize
	c, err := d.locateChecked(i)
	if err != nil {
		return run{}, err
	}
	r := run{cluster: c}
	if c.kind == allocated {
		r.host += off % d.blockSize
	}
	next := i + d.span(i, c)
	r.n = min(next*d.blockSize, d.size) - off
	for r.kind != compressed && r.n < limit && next*d.blockSize < d.size {
		c, err := d.locateChecked(next)
		if err != nil {
			return run{}, err
		}
		zeros := readsZero(r.kind) && readsZero(c.kind)
		contiguous := r.kind == allocated && c.kind == allocated && c.host == r.host+r.n
		if !zeros && !contiguous {
			break
		}
		next += d.span(next, c)
		r.n = min(next*d.blockSize, d.size) - off
	}
	r.n = min(r.n, limit)
	return r, nil
}

// span is how many blocks from i are stored as block i, which locate
// returned as c, is: more than one only where a format knows a whole
// stretch reads as zeros.
func (d *tableDisk) span(i int64, c cluster) int64 {
	if d.emptySpan == nil || !readsZero(c.kind) {
		return 1
	}
	return max(1, d.emptySpan(i))
}

func readsZero(kind int) bool { return kind == unallocated || kind == zeroed }

func (d *tableDisk) ReadAt(p []byte, off int64) (int, error) {
	p, eof, err := clipRead(d.format, p, off, d.size)
	if err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		at := off + int64(done)
		r, err := d.mapRun(at, int64(len(p)-done))
		if err != nil {
			return done, err
		}
		b := p[done : done+int(r.n)]
		switch r.kind {
		case unallocated, zeroed:
			clear(b)
		case allocated:
			if _, err := d.r.ReadAt(b, r.host); err != nil {
				return done, readError(d.format, err, "data block", r.host)
			}
		case compressed:
			if err := d.readCompressed(b, at, r.cluster); err != nil {
				return done, err
			}
		}
		done += len(b)
	}
	return len(p), eof
}

// readCompressed decompresses the block holding virtual offset off and
// copies the part from off into b.
func (d *tableDisk) readCompressed(b []byte, off int64, c cluster) error {
	bp, _ := d.bufs.Get().(*[]byte)
	if bp == nil || int64(len(*bp)) < d.blockSize+c.csize {
		bp = new([]byte)
		*bp = make([]byte, d.blockSize+c.csize)
	}
	defer d.bufs.Put(bp)
	out, in := (*bp)[:d.blockSize], (*bp)[d.blockSize:][:c.csize]
	// A read of the whole block decompresses straight into the caller's
	// buffer, saving a copy.
	whole := off%d.blockSize == 0 && int64(len(b)) == d.blockSize
	if whole {
		out = b
	}
	in, err := d.readCompressedInput(in, c.host)
	if err != nil {
		return err
	}
	if err := d.inflate(out, in); err != nil {
		return errorf(ErrFormat, "%s: compressed %s for virtual offset %#x at %#x: %v", d.format, d.unit(), off-off%d.blockSize, c.host, err)
	}
	if !whole {
		copy(b, out[off%d.blockSize:])
	}
	return nil
}

// readCompressedInput reads a compressed block at host into in, which is
// as long as the block may be: where the format tells the length from the
// first bytes, only that much.
func (d *tableDisk) readCompressedInput(in []byte, host int64) ([]byte, error) {
	first := in
	if d.compressedLen != nil {
		first = in[:min(int64(len(in)), d.blockSize/2)]
	}
	if _, err := d.r.ReadAt(first, host); err != nil && err != io.EOF {
		return nil, readError(d.format, err, "compressed block", host)
	}
	if d.compressedLen == nil {
		return in, nil
	}
	n := d.compressedLen(first)
	if n <= int64(len(first)) || n > int64(len(in)) {
		return first, nil // inflate says what is wrong with a bad length
	}
	if _, err := d.r.ReadAt(in[len(first):n], host+int64(len(first))); err != nil && err != io.EOF {
		return nil, readError(d.format, err, "compressed block", host)
	}
	return in[:n], nil
}

// Extents lists the stored blocks.
func (d *tableDisk) Extents() ([]Extent, error) {
	var ext []Extent
	for off := int64(0); off < d.size; {
		r, err := d.mapRun(off, d.size-off)
		if err != nil {
			return nil, err
		}
		if r.kind == allocated || r.kind == compressed {
			ext = appendExtent(ext, Extent{Offset: off, Length: r.n})
		}
		off += r.n
	}
	return ext, nil
}

func (d *tableDisk) MapRange(off, n int64) (Mapping, error) {
	r, err := d.mapRun(off, min(n, d.size-off))
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{Length: r.n}
	switch r.kind {
	case unallocated, zeroed:
		m.Zero = true
	case allocated:
		if d.blockSize <= VerbatimMax {
			m.File, _ = d.r.(*os.File)
			m.Offset = r.host
		}
	}
	return m, nil
}
