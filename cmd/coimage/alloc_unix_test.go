//go:build unix

package main

import (
	"syscall"
	"testing"
)

// allocatedBytes returns the bytes a file takes on disk.
func allocatedBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
