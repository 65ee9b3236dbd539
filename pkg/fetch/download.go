package fetch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// Download writes src to dest once its size and SHA256 match want. The
// bytes land in dest+".part" first. An interrupted transfer keeps that
// file: the next attempt, or the next call, hashes the prefix it holds and
// asks the source only for the rest (an HTTP Range request). A source whose
// bytes turn out to differ from want (checksum, truncated, too large)
// removes the .part file; so does a failure before any byte arrived.
//
// onData, if set, sees every byte of the file once, in order, with its
// offset, as it lands in the .part file (a kept prefix first), so a caller
// can check and use pieces early; an error from it stops the download and
// removes the .part file. With onData, a .part whose bytes turn out wrong
// is not downloaded again from 0: the error is returned.
//
// Downloads of one dest take turns: each holds a lock on the .part file
// (see openPart), so concurrent pulls of one image do not clash.
func (c *Client) Download(ctx context.Context, src Source, dest string, want Digest, onData func(off int64, p []byte) error) (err error) {
	if !IsSHA256(want.SHA256) || want.Size < 0 {
		return fmt.Errorf("%s: bad expected digest %q, size %d", src, want.SHA256, want.Size)
	}
	part := PartPath(dest)
	f, err := openPart(ctx, part)
	if err != nil {
		return fmt.Errorf("%s: %w", part, err)
	}
	p := &partFile{f: f, h: sha256.New(), onData: onData}
	defer func() {
		if err == nil {
			return
		}
		// Removed before the lock goes with the close: a waiting
		// Download then finds no file, or a new one.
		if p.n == 0 || p.failed || errors.Is(err, ErrChecksum) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge) {
			os.Remove(part)
		}
		f.Close()
	}()
	if err := p.hashPrefix(want.Size); err != nil {
		return fmt.Errorf("%s: %w", part, err)
	}
	if p.n > 0 && c.Progress != nil {
		c.Progress(p.n)
	}
	for {
		resumed := p.n > 0
		if err := c.retry(ctx, func(ctx context.Context) error { return c.transfer(ctx, src, p, want.Size) }); err != nil {
			return err
		}
		err := Verify(src.String(), p.n, p.h.Sum(nil), want)
		if err == nil {
			break
		}
		if !resumed || onData != nil {
			return err
		}
		// The kept prefix may come from an older file: once more from 0.
		if err := p.reset(); err != nil {
			return err
		}
	}
	// No fsync: whoever uses dest verifies it again (Cache.Get does), so
	// a file torn by a crash is caught there.
	return closePart(f, part, dest)
}

// transfer appends the bytes of src from p.n on to p, up to size.
func (c *Client) transfer(ctx context.Context, src Source, p *partFile, size int64) error {
	if p.n == size {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, err := src.Open(ctx, p.n)
	if errors.Is(err, ErrRangeIgnored) {
		// Read past what the .part holds; the file is never rewritten, so
		// whoever reads it meanwhile sees the same bytes. The final SHA256
		// catches a source that changed.
		if body, err = src.Open(ctx, 0); err == nil {
			if _, err = io.CopyN(io.Discard, body, p.n); err != nil {
				body.Close()
				return fmt.Errorf("%s: %w", src, err)
			}
		}
	}
	if err != nil {
		return err
	}
	defer body.Close()
	w := &stallReader{r: body, stall: c.stall(), cancel: cancel}
	w.timer = time.AfterFunc(w.stall, w.fire)
	defer w.timer.Stop()
	var dst io.Writer = p
	if c.Progress != nil {
		dst = io.MultiWriter(p, progressWriter(c.Progress))
	}
	buf := make([]byte, 256<<10)
	_, err = io.CopyBuffer(dst, io.LimitReader(w, size-p.n+1), buf)
	switch {
	case err != nil:
		if w.stalled.Load() {
			return fmt.Errorf("%s: nothing received for %v", src, w.stall)
		}
		return fmt.Errorf("%s: %w", src, err)
	case p.n > size:
		return fmt.Errorf("%s: more than the expected %d bytes: %w", src, size, ErrTooLarge)
	case p.n < size:
		return fmt.Errorf("%s: ended after %d of %d bytes: %w", src, p.n, size, ErrTruncated)
	}
	return nil
}

// PartPath is where Download keeps the bytes of dest until they check out.
func PartPath(dest string) string { return dest + ".part" }

// partFile is a .part file being appended to, with the hash of its bytes.
type partFile struct {
	f      *os.File
	h      hash.Hash
	n      int64
	onData func(off int64, p []byte) error
	failed bool // onData refused the bytes
}

func (p *partFile) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	if err := p.see(b[:n]); err != nil {
		return 0, err
	}
	return n, err
}

// see hashes bytes that are in the file and shows them to onData.
func (p *partFile) see(b []byte) error {
	p.h.Write(b)
	off := p.n
	p.n += int64(len(b))
	if p.onData != nil {
		if err := p.onData(off, b); err != nil {
			p.failed = true
			return Permanent(err)
		}
	}
	return nil
}

// hashPrefix hashes what an earlier run left, keeping at most size bytes.
func (p *partFile) hashPrefix(size int64) error {
	if n, err := p.f.Seek(0, io.SeekEnd); err != nil || n > size {
		return p.reset() // longer than the file: not a prefix of it
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := p.f.Read(buf)
		if n > 0 {
			if err := p.see(buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (p *partFile) reset() error {
	p.h.Reset()
	p.n = 0
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	_, err := p.f.Seek(0, io.SeekStart)
	return err
}

// stallReader cancels a transfer that delivers nothing for stall.
type stallReader struct {
	r       io.Reader
	stall   time.Duration
	cancel  context.CancelFunc
	timer   *time.Timer
	stalled atomic.Bool
}

func (s *stallReader) fire() {
	s.stalled.Store(true)
	s.cancel()
}

func (s *stallReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if n > 0 {
		s.timer.Reset(s.stall)
	}
	return n, err
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}
