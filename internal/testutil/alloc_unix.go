//go:build unix

package testutil

import (
	"syscall"
	"testing"
)

// AllocatedBytes returns the bytes a file takes on disk, to check that an
// output stayed sparse.
func AllocatedBytes(t testing.TB, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
