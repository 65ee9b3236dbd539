package atomicfile

import (
	"os"

	"golang.org/x/sys/windows"
)

// MarkSparse tells NTFS that the ranges of f never written are holes;
// without it, NTFS fills every skipped range with zeros on disk. A volume
// without sparse files (FAT, exFAT) refuses, and f is written dense.
func MarkSparse(f *os.File) {
	var n uint32
	windows.DeviceIoControl(windows.Handle(f.Fd()), windows.FSCTL_SET_SPARSE, nil, 0, nil, 0, &n, nil)
}
