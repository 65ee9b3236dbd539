package imagefmt

import "golang.org/x/sys/windows"

// freeSpace returns the bytes the caller may still use on the volume
// holding dir.
func freeSpace(dir string) (int64, bool) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, false
	}
	var avail uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, nil, nil); err != nil {
		return 0, false
	}
	return int64(min(avail, 1<<62)), true
}
