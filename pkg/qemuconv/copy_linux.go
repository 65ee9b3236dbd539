package qemuconv

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyFileRange copies n bytes from src at srcOff to dst at dstOff inside
// the kernel. It fails with errNoCopyRange where the file systems cannot,
// so that the caller reads and writes instead.
func copyFileRange(dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	for n > 0 {
		k, err := unix.CopyFileRange(int(src.Fd()), &srcOff, int(dst.Fd()), &dstOff, int(min(n, 1<<30)), 0)
		switch {
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EINVAL):
			return errNoCopyRange
		case err != nil:
			return err
		case k == 0:
			return io.ErrUnexpectedEOF
		}
		n -= int64(k)
	}
	return nil
}
