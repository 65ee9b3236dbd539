package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// StartWriteback asks the kernel to start writing a range of f to disk now
// rather than leaving every dirty page to the final fsync, so that the disk
// works while the output is still being produced. Only a hint: its failure
// (a file system without it) is ignored.
func StartWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
