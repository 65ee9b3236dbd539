package imagefmt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/ulikunitz/xz"
)

// holeBlock is the granularity at which zeros in a decompressed image are
// left as holes instead of written: file systems allocate in 4 KiB blocks.
const holeBlock = 4096

// openXZ decompresses the xz-compressed raw disk in f into an unlinked
// sparse temporary file and serves that. xz streams cannot be read at an
// offset, so a random-access Disk needs the whole payload somewhere. A
// payload that is itself a qcow2 image is served as raw bytes, as
// `xz -d` would give them. f is closed once decompressed.
func openXZ(f *os.File) (Disk, error) {
	tmp, err := os.CreateTemp("", "imagefmt-xz-*")
	if err != nil {
		return nil, err
	}
	// Unlinked now, the copy goes away with the last descriptor however
	// the process ends.
	os.Remove(tmp.Name())
	if err := unxz(tmp, f); err != nil {
		tmp.Close()
		return nil, err
	}
	d, err := newRaw(tmp, XZ)
	if err != nil {
		tmp.Close()
		return nil, err
	}
	f.Close()
	return d, nil
}

// unxz decompresses src into dst, seeking over zero blocks so that they
// stay holes.
func unxz(dst *os.File, src io.Reader) error {
	zr, err := xz.NewReader(bufio.NewReaderSize(src, 1<<20))
	if err != nil {
		return errorf(ErrFormat, "xz: %v", err)
	}
	// Whole buffers keep the blocks 4 KiB aligned in the output.
	buf := make([]byte, 1<<20)
	zero := make([]byte, holeBlock)
	var off int64
	for {
		n, rerr := fill(zr, buf)
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
