package testutil

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// allocatedRange is FILE_ALLOCATED_RANGE_BUFFER.
type allocatedRange struct{ Offset, Length int64 }

// AllocatedBytes returns the bytes a file takes on disk, to check that an
// output stayed sparse: the sum of the ranges NTFS reports allocated
// (FSCTL_QUERY_ALLOCATED_RANGES; a file not marked sparse is one range).
func AllocatedBytes(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	in := allocatedRange{0, fi.Size()}
	var out [64]allocatedRange
	var total int64
	for in.Length > 0 {
		var n uint32
		err := windows.DeviceIoControl(windows.Handle(f.Fd()), windows.FSCTL_QUERY_ALLOCATED_RANGES,
			(*byte)(unsafe.Pointer(&in)), uint32(unsafe.Sizeof(in)),
			(*byte)(unsafe.Pointer(&out[0])), uint32(unsafe.Sizeof(out)), &n, nil)
		if err != nil && !errors.Is(err, windows.ERROR_MORE_DATA) {
			t.Fatalf("%s: allocated ranges: %v", path, err)
		}
		got := out[:n/uint32(unsafe.Sizeof(out[0]))]
		for _, r := range got {
			total += r.Length
		}
		if err == nil || len(got) == 0 {
			break
		}
		last := got[len(got)-1]
		end := in.Offset + in.Length
		in.Offset = last.Offset + last.Length
		in.Length = end - in.Offset
	}
	return total
}
