package imagefmt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/colinux-ng/colinux/internal/atomicfile"
)

// WriteOptions control Write.
type WriteOptions struct {
	// Compress names the compression for qcow2 clusters: "zlib", "zstd",
	// or empty for none. vmdk streamOptimized grains are always deflated.
	Compress string
	// Name is the file name a vmdk's descriptor records for its one
	// extent: the output's final name, not its temporary one.
	Name string
	// Progress, when set, is called with each stretch of the virtual disk
	// dealt with, in bytes.
	Progress func(int64)
}

// Write writes the disk src into dst, an empty file, as format: qcow2
// (version 3, clusters optionally compressed), vhdx (dynamic), vmdk
// (streamOptimized) or vdi (dynamic). Blocks that hold only zeros are left
// out; the others are read and compressed by several goroutines and
// written in order.
func Write(ctx context.Context, dst *os.File, src Disk, format Format, opt WriteOptions) error {
	if opt.Compress != "" && format != QCOW2 {
		return fmt.Errorf("%s: --compress is for qcow2 (vmdk streamOptimized is always compressed)", format)
	}
	if format != QCOW2 && src.Size()%512 != 0 {
		return fmt.Errorf("%s: the disk's %d bytes are not whole 512-byte sectors", format, src.Size())
	}
	w := &writer{ctx: ctx, dst: dst, src: src, progress: opt.Progress}
	switch format {
	case QCOW2:
		return writeQCOW2(w, opt.Compress)
	case VHDX:
		return writeVHDX(w)
	case VMDK:
		return writeVMDK(w, opt.Name)
	case VDI:
		return writeVDI(w)
	}
	return fmt.Errorf("cannot write %s images: %w", format, ErrUnsupported)
}

// writer is the state shared by the format writers: where to write and
// how far the flush has been started.
type writer struct {
	ctx      context.Context
	dst      *os.File
	src      Disk
	progress func(int64)
	flushed  int64 // writeback has been started up to here
}

// writeAt writes b at off and starts writeback of what lies before it in
// steps of 8 MiB, so that the final fsync finds little left to do.
func (w *writer) writeAt(b []byte, off int64) error {
	if _, err := w.dst.WriteAt(b, off); err != nil {
		return fmt.Errorf("write %s at %d: %w", w.dst.Name(), off, err)
	}
	if end := off + int64(len(b)); end-w.flushed >= 8<<20 {
		atomicfile.StartWriteback(w.dst, w.flushed, end-w.flushed)
		w.flushed = end
	}
	return nil
}

// block is one block of the source disk on its way to the output.
type block struct {
	index int64
	data  []byte // the block, zero-padded past the disk's end; nil when all zeros
	out   []byte // what prepare made of it: compressed bytes, or nil to store data
	err   error
	done  chan struct{}
	bufs  *[2][]byte
}

// eachBlock reads the blocks of size bs that the source's extents ext
// touch, with a worker per CPU; prepare (compression) runs in the workers,
// store in block order in one goroutine. All-zero blocks are not stored.
// Memory stays at a few blocks per worker.
func (w *writer) eachBlock(ext []Extent, bs int64, prepare func(*block) error, store func(*block) error) error {
	indices := blocksOf(ext, bs)
	size := w.src.Size()
	blockLen := func(i int64) int64 { return min(bs, size-i*bs) }
	if w.progress != nil {
		todo := size
		for _, i := range indices {
			todo -= blockLen(i)
		}
		w.progress(todo) // the blocks left out need no work
	}
	workers := max(2, runtime.NumCPU())
	g, ctx := errgroup.WithContext(w.ctx)
	jobs := make(chan *block)
	order := make(chan *block, 2*workers)
	pool := sync.Pool{New: func() any { return &[2][]byte{make([]byte, bs), nil} }}
	g.Go(func() error {
		defer close(jobs)
		defer close(order)
		for _, i := range indices {
			b := &block{index: i, done: make(chan struct{})}
			select {
			case order <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			for b := range jobs {
				b.bufs = pool.Get().(*[2][]byte)
				b.err = w.readBlock(b, bs, prepare)
				close(b.done)
			}
			return nil
		})
	}
	g.Go(func() error {
		for b := range order {
			select {
			case <-b.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if b.err != nil {
				return b.err
			}
			if b.data != nil {
				if err := store(b); err != nil {
					return err
				}
			}
			pool.Put(b.bufs)
			if w.progress != nil {
				w.progress(blockLen(b.index))
			}
		}
		return nil
	})
	return g.Wait()
}

// readBlock reads block b and, unless it is all zeros, prepares it.
func (w *writer) readBlock(b *block, bs int64, prepare func(*block) error) error {
	buf := b.bufs[0]
	off := b.index * bs
	n := min(bs, w.src.Size()-off)
	if _, err := w.src.ReadAt(buf[:n], off); err != nil {
		return fmt.Errorf("read disk at offset %d: %w", off, err)
	}
	clear(buf[n:])
	if allZero(buf) {
		return nil
	}
	b.data = buf
	if prepare != nil {
		return prepare(b)
	}
	return nil
}

var zeros64K = make([]byte, 64<<10)

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros64K))
		if !bytes.Equal(b[:n], zeros64K[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// resetWriter is a compressor that can be reused for another stream.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// compressWith compresses b's data with a compressor from pool into b.out,
// in the block's scratch buffer.
func compressWith(pool *sync.Pool, b *block) error {
	out := bytes.NewBuffer(b.bufs[1][:0])
	w := pool.Get().(resetWriter)
	defer pool.Put(w)
	w.Reset(out)
	if _, err := w.Write(b.data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	b.out = out.Bytes()
	b.bufs[1] = b.out[:0]
	return nil
}

// blocksOf lists the indices of the blocks of size bs that extents touch.
func blocksOf(ext []Extent, bs int64) []int64 {
	var out []int64
	for _, e := range ext {
		first, last := e.Offset/bs, (e.Offset+e.Length-1)/bs
		if n := len(out); n > 0 && out[n-1] >= first {
			first = out[n-1] + 1
		}
		for i := first; i <= last; i++ {
			out = append(out, i)
		}
	}
	return out
}
