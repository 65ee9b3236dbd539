package release

import (
	"context"
	"fmt"
	"io"
	"runtime"

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
)

// Compress writes size bytes of src to w as independent zstd frames of
// frameSize raw bytes each (klauspost/compress, its best level), frames
// compressed on all cores and written in order, then the seek table. It
// returns the frames with their SHA256s.
// progress, if set, receives raw bytes done.
func Compress(ctx context.Context, src io.ReaderAt, size, frameSize int64, w io.Writer, progress func(int64)) ([]Frame, error) {
	if size <= 0 || frameSize < minFrameSize || frameSize > maxFrameSize {
		return nil, fmt.Errorf("compress: size %d, frame size %d out of range", size, frameSize)
	}
	n := int((size + frameSize - 1) / frameSize)
	workers := min(runtime.GOMAXPROCS(0), n)
	type result struct {
		data            []byte
		rawSum, dataSum string
	}
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
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
				zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
			if err != nil {
				return err
			}
			defer enc.Close()
			buf := make([]byte, frameSize)
			for j := range jobs {
				off := int64(j.i) * frameSize
				raw := buf[:min(frameSize, size-off)]
				if _, err := src.ReadAt(raw, off); err != nil {
					return fmt.Errorf("read image at offset %d: %w", off, err)
				}
				data := enc.EncodeAll(raw, nil)
				j.out <- result{data: data, rawSum: sha256Hex(raw), dataSum: sha256Hex(data)}
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
