package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/internal/osfile"
)

const (
	// maxDecoders bounds the frames decoded at once, and so memory: each
	// decoder holds a window plus a chunk (about 10 MiB).
	maxDecoders = 3
	chunkSize   = 1 << 20
	// holeBlock is the granularity of zero detection: a filesystem block.
	holeBlock = 4096
)

// unpacker decompresses an image while it downloads. The download hook
// (see) hashes each frame's compressed bytes as they land in the .part
// file; a frame whose SHA256 matches the signed index is queued, and
// decoders (one per core, at most maxDecoders) decompress queued frames
// from the .part file into out, each at its offset, leaving zero blocks as
// holes and checking each frame's raw SHA256 and size. So nothing is
// decompressed before its bytes are verified, and a resumed download
// re-verifies its kept prefix through the same hook.
type unpacker struct {
	frames []Frame
	out    *os.File
	part   string // the .part file to read frames from
	name   string // labels errors

	// Download side (the hook runs on one goroutine).
	pos      int64 // bytes seen
	cur      int   // frame being received
	h        hash.Hash
	blob     *os.File
	queue    chan int
	queueErr error
}

func newUnpacker(frames []Frame, out *os.File, part, name string) *unpacker {
	return &unpacker{frames: frames, out: out, part: part, name: name,
		h: sha256.New(), queue: make(chan int, len(frames))}
}

// see is the fetch.Download hook: bytes p of the compressed file at off.
func (u *unpacker) see(off int64, p []byte) error {
	if off != u.pos { // Download never rewrites what it showed

		return fmt.Errorf("bytes at %d, expected %d", off, u.pos)
	}
	for len(p) > 0 && u.cur < len(u.frames) {
		f := u.frames[u.cur]
		take := min(int64(len(p)), f.Offset+f.CompressedSize-u.pos)
		u.h.Write(p[:take])
		u.pos += take
		p = p[take:]
		if u.pos < f.Offset+f.CompressedSize {
			break
		}
		if got := hex.EncodeToString(u.h.Sum(nil)); got != f.CompressedSHA256 {
			return fmt.Errorf("frame %d (bytes %d-%d): SHA256 %s, expected %s: %w",
				u.cur, f.Offset, f.Offset+f.CompressedSize, got, f.CompressedSHA256, ErrChecksum)
		}
		if err := u.enqueue(u.cur); err != nil {
			return err
		}
		u.cur++
		u.h.Reset()
	}
	u.pos += int64(len(p)) // the seek table, covered by the whole file's SHA256
	return nil
}

func (u *unpacker) enqueue(i int) error {
	if u.blob == nil {
		// Download renames the .part when it is complete, which
		// Windows allows only to files opened to allow it.
		f, err := osfile.Open(u.part)
		if err != nil {
			return err
		}
		u.blob = f
	}
	u.queue <- i
	return nil
}

// finish says the download is over: every frame has been queued.
func (u *unpacker) finish() { close(u.queue) }

// checkSeekTable checks that the downloaded file's own seek table (for
// other zstd tools) agrees with the index. It reads the file the frames
// came from, which the download renamed: another pull of the same image
// may meanwhile have replaced or removed what is at that name.
func (u *unpacker) checkSeekTable() error {
	if u.blob == nil {
		return fmt.Errorf("%s: no frame was received", u.name)
	}
	fi, err := u.blob.Stat()
	if err != nil {
		return err
	}
	table, err := ReadSeekTable(u.blob, fi.Size(), u.name)
	if err != nil {
		return err
	}
	return sameFrames(table, u.frames, u.name)
}

func (u *unpacker) close() {
	if u.blob != nil {
		u.blob.Close()
	}
}

// run decodes queued frames until the queue is finished and empty.
func (u *unpacker) run(ctx context.Context) error {
	if err := u.out.Truncate(u.frames[len(u.frames)-1].RawOffset + u.frames[len(u.frames)-1].RawSize); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for range min(runtime.GOMAXPROCS(0), maxDecoders, len(u.frames)) {
		g.Go(func() error {
			dec, err := newFrameDecoder()
			if err != nil {
				return err
			}
			defer dec.close()
			buf := make([]byte, chunkSize)
			for {
				var i int
				var ok bool
				select {
				case i, ok = <-u.queue:
				case <-ctx.Done():
					return ctx.Err()
				}
				if !ok {
					return nil
				}
				f := u.frames[i]
				sum, err := decodeFrame(ctx, dec, u.blob, f, u.out, buf)
				if err != nil {
					return fmt.Errorf("%s: frame %d (offset %d): %w", u.name, i, f.Offset, err)
				}
				if sum != f.SHA256 {
					return fmt.Errorf("%s: frame %d decompressed (image bytes %d-%d): SHA256 %s, expected %s: %w",
						u.name, i, f.RawOffset, f.RawOffset+f.RawSize, sum, f.SHA256, ErrChecksum)
				}
				atomicfile.StartWriteback(u.out, f.RawOffset, f.RawSize)
			}
		})
	}
	return g.Wait()
}

// frameDecoder decodes one frame at a time; one per goroutine.
type frameDecoder interface {
	io.Reader
	reset(frame io.Reader) error
	close()
}

// goDecoder is klauspost/compress's decoder, the one of builds without cgo.
type goDecoder struct{ *zstd.Decoder }

func newGoDecoder() (frameDecoder, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(window),
		zstd.IgnoreChecksum(true)) // the SHA256s cover what zstd's checksum would
	return goDecoder{dec}, err
}

func (d goDecoder) reset(frame io.Reader) error { return d.Reset(frame) }
func (d goDecoder) close()                      { d.Close() }

// checkWindow refuses a frame whose header asks for a window larger than
// ours: each decoder holds one, and pull's memory is bounded by them.
// (RFC 8878 section 3.1.1.1: a single-segment frame's window is its
// content size.)
func checkWindow(frame io.Reader) error {
	var h [17]byte // magic, descriptor, dictionary ID (4), content size (8)
	if _, err := io.ReadFull(frame, h[:6]); err != nil {
		return fmt.Errorf("frame header: %v: %w", err, ErrFormat)
	}
	if m := binary.LittleEndian.Uint32(h[:]); m != zstdMagic {
		return fmt.Errorf("no zstd frame (magic %#x): %w", m, ErrFormat)
	}
	fhd := h[4]
	var size uint64
	if fhd&0x20 == 0 { // window descriptor
		exp, mant := uint64(h[5]>>3), uint64(h[5]&7)
		base := uint64(1) << (10 + exp)
		size = base + base/8*mant
	} else {
		idLen := [4]int{0, 1, 2, 4}[fhd&3]
		fcsLen := [4]int{1, 2, 4, 8}[fhd>>6]
		if _, err := io.ReadFull(frame, h[6:5+idLen+fcsLen]); err != nil {
			return fmt.Errorf("frame header: %v: %w", err, ErrFormat)
		}
		var fcs [8]byte
		copy(fcs[:], h[5+idLen:5+idLen+fcsLen])
		size = binary.LittleEndian.Uint64(fcs[:])
		if fcsLen == 2 {
			size += 256
		}
	}
	if size > window {
		return fmt.Errorf("window of %d bytes, more than %d: %w", size, window, ErrFormat)
	}
	return nil
}

const zstdMagic = 0xFD2FB528

// errBomb: a frame decodes to more than the index declares.
var errBomb = errors.New("decompresses to more than declared")

// decodeFrame decodes one frame into out at its raw offset, leaving zero
// blocks as holes, and returns the SHA256 of the frame's raw bytes.
func decodeFrame(ctx context.Context, dec frameDecoder, blob io.ReaderAt, f Frame, out *os.File, buf []byte) (string, error) {
	if err := checkWindow(io.NewSectionReader(blob, f.Offset, f.CompressedSize)); err != nil {
		return "", err
	}
	if err := dec.reset(io.NewSectionReader(blob, f.Offset, f.CompressedSize)); err != nil {
		return "", fmt.Errorf("%v: %w", err, ErrFormat)
	}
	w := &sparseWriter{f: out, h: sha256.New()}
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := io.ReadFull(dec, buf)
		if done+int64(n) > f.RawSize {
			return "", fmt.Errorf("%w (%d bytes)", errBomb, f.RawSize)
		}
		if werr := w.write(buf[:n], f.RawOffset+done); werr != nil {
			return "", werr
		}
		done += int64(n)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if done != f.RawSize {
				return "", fmt.Errorf("decompresses to %d bytes, the index says %d: %w", done, f.RawSize, ErrFormat)
			}
			return w.sum(f.RawSize), nil
		case err != nil:
			return "", fmt.Errorf("%v: %w", err, ErrFormat)
		}
	}
}

// sparseWriter writes the non-zero blocks of a frame and skips zero
// blocks, which stay holes in a file that was only truncated to size. It
// hashes the frame as it goes; a run of zeros is hashed only when data
// follows it, and an all-zero frame's SHA256 is computed once per size.
type sparseWriter struct {
	f     *os.File
	h     hash.Hash
	zeros int64 // zero bytes not yet hashed
	data  bool  // any non-zero block so far
}

var zeroChunk [chunkSize]byte

func (w *sparseWriter) write(b []byte, off int64) error {
	start := -1 // first byte of the pending non-zero run
	flush := func(end int) error {
		if start < 0 {
			return nil
		}
		w.hashZeros()
		w.h.Write(b[start:end])
		_, err := w.f.WriteAt(b[start:end], off+int64(start))
		start = -1
		return err
	}
	for i := 0; i < len(b); i += holeBlock {
		blk := b[i:min(i+holeBlock, len(b))]
		if bytes.Equal(blk, zeroChunk[:len(blk)]) {
			if err := flush(i); err != nil {
				return err
			}
			w.zeros += int64(len(blk))
			continue
		}
		w.data = true
		if start < 0 {
			start = i
		}
	}
	return flush(len(b))
}

func (w *sparseWriter) hashZeros() {
	for w.zeros > 0 {
		n := min(w.zeros, chunkSize)
		w.h.Write(zeroChunk[:n])
		w.zeros -= n
	}
}

func (w *sparseWriter) sum(size int64) string {
	if !w.data {
		return zeroSum(size)
	}
	w.hashZeros()
	return hex.EncodeToString(w.h.Sum(nil))
}

var zeroSums sync.Map // size → SHA256 of that many zero bytes

func zeroSum(size int64) string {
	if s, ok := zeroSums.Load(size); ok {
		return s.(string)
	}
	w := &sparseWriter{h: sha256.New(), zeros: size, data: true}
	s := w.sum(size)
	zeroSums.Store(size, s)
	return s
}
