package release

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

const (
	// DefaultFrameSize is the raw size of each independent frame: large
	// enough that frames cost little ratio (0.8% more than 64 MiB frames on
	// the Debian image), small enough that more frames are all holes, whose
	// raw SHA256 pull need not compute (about 10% less CPU there).
	DefaultFrameSize = 32 << 20
	// window is the zstd window of every frame (zstd's own level 19 uses
	// the same). A decoder holds one window per frame it decodes at once,
	// which keeps pull's memory small; larger windows are refused.
	window = 8 << 20
	// DefaultLevel is the zstd level of releases: zstd's own -19, whose
	// window is 8 MiB (see window). Levels above it (--ultra) use larger
	// windows, which pull refuses.
	DefaultLevel = 19
)

// frameEncoder compresses one whole frame; one per goroutine.
type frameEncoder interface {
	encode(raw []byte) ([]byte, error)
	close()
}

// goEncoder is klauspost/compress at its best level, the encoder of builds
// without cgo.
type goEncoder struct{ enc *zstd.Encoder }

func newGoEncoder(level int) (frameEncoder, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	return goEncoder{enc}, err
}

func (e goEncoder) encode(raw []byte) ([]byte, error) { return e.enc.EncodeAll(raw, nil), nil }
func (e goEncoder) close()                            { e.enc.Close() }

// zeroFrames encodes each size of all-zero frame once: most frames of a
// sparse image are holes, and the encoder would make the same bytes for
// each of them.
type zeroFrames struct {
	mu     sync.Mutex
	frames map[int]result
}

type result struct {
	data            []byte
	rawSum, dataSum string
}

func (z *zeroFrames) get(enc frameEncoder, raw []byte) (result, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if r, ok := z.frames[len(raw)]; ok {
		return r, nil
	}
	data, err := enc.encode(raw)
	if err != nil {
		return result{}, err
	}
	r := result{data: data, rawSum: zeroSum(int64(len(raw))), dataSum: sha256Hex(data)}
	if z.frames == nil {
		z.frames = map[int]result{}
	}
	z.frames[len(raw)] = r
	return r, nil
}

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroChunk))
		if !bytes.Equal(b[:n], zeroChunk[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// Compress writes size bytes of src to w as independent zstd frames of
// frameSize raw bytes each at a zstd level from 1 to DefaultLevel (0 for
// DefaultLevel; see newFrameEncoder), frames compressed on all
// cores and written in order, then the seek table. It returns the frames
// with their SHA256s. The output depends only on the input and the
// encoder, so releasing an image twice gives the same bytes.
// progress, if set, receives raw bytes done.
func Compress(ctx context.Context, src io.ReaderAt, size, frameSize int64, level int, w io.Writer, progress func(int64)) ([]Frame, error) {
	if level == 0 {
		level = DefaultLevel
	}
	if level < 1 || level > DefaultLevel {
		return nil, fmt.Errorf("compress: zstd level %d: use 1 to %d", level, DefaultLevel)
	}
	return compressFrames(ctx, func() (frameEncoder, error) { return newFrameEncoder(level) }, src, size, frameSize, w, progress)
}

func compressFrames(ctx context.Context, newEncoder func() (frameEncoder, error), src io.ReaderAt, size, frameSize int64,
	w io.Writer, progress func(int64)) ([]Frame, error) {
	if size <= 0 || frameSize < minFrameSize || frameSize > maxFrameSize {
		return nil, fmt.Errorf("compress: size %d, frame size %d out of range", size, frameSize)
	}
	n := int((size + frameSize - 1) / frameSize)
	workers := min(runtime.GOMAXPROCS(0), n)
	var zeros zeroFrames
	type job struct {
		i   int
		out chan result
	}
	jobs := make(chan job)
	order := make(chan chan result, workers) // bounds the frames in flight
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		defer close(order)
		for i := range n {
			j := job{i, make(chan result, 1)}
			select {
			case order <- j.out:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			enc, err := newEncoder()
			if err != nil {
				return err
			}
			defer enc.close()
			buf := make([]byte, frameSize)
			for j := range jobs {
				off := int64(j.i) * frameSize
				raw := buf[:min(frameSize, size-off)]
				if _, err := src.ReadAt(raw, off); err != nil {
					return fmt.Errorf("read image at offset %d: %w", off, err)
				}
				var r result
				if allZero(raw) {
					r, err = zeros.get(enc, raw)
				} else {
					r.data, err = enc.encode(raw)
					r.rawSum, r.dataSum = sha256Hex(raw), sha256Hex(r.data)
				}
				if err != nil {
					return fmt.Errorf("compress image at offset %d: %w", off, err)
				}
				j.out <- r
			}
			return nil
		})
	}
	frames := make([]Frame, 0, n)
	g.Go(func() error {
		var off, rawOff int64
		for out := range order {
			var r result
			select {
			case r = <-out:
			case <-ctx.Done():
				return ctx.Err()
			}
			if _, err := w.Write(r.data); err != nil {
				return err
			}
			raw := min(frameSize, size-rawOff)
			frames = append(frames, Frame{Offset: off, CompressedSize: int64(len(r.data)), RawOffset: rawOff, RawSize: raw,
				CompressedSHA256: r.dataSum, SHA256: r.rawSum})
			off += int64(len(r.data))
			rawOff += raw
			if progress != nil {
				progress(raw)
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if _, err := w.Write(appendSeekTable(nil, frames)); err != nil {
		return nil, err
	}
	return frames, nil
}
