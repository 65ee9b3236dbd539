//go:build unix

package fetch

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often a Download waiting for another's .part tries again.
const lockPoll = 50 * time.Millisecond

// openPart opens (or creates) the .part file at path holding an exclusive
// lock on it, which lasts until the file is closed: a second Download of
// the same dest (two pulls of one image) waits here for the first, then
// resumes what it left or starts on a new file. Waiting ends with ctx.
func openPart(ctx context.Context, path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
				break
			}
			select {
			case <-ctx.Done():
				f.Close()
				return nil, ctx.Err()
			case <-time.After(lockPoll):
			}
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		// The holder may have renamed or removed the file meanwhile: then
		// this descriptor is of a file no longer at path.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
		if err1 != nil {
			return nil, err1
		}
	}
}

// closePart renames the locked .part to dest and then closes it, so no
// waiting Download locks a file that is about to move.
func closePart(f *os.File, part, dest string) error {
	if err := os.Rename(part, dest); err != nil {
		return err
	}
	return f.Close()
}
