//go:build !linux

package qemuconv

import "os"

// copyFileRange is Linux's; elsewhere the caller reads and writes.
func copyFileRange(*os.File, int64, *os.File, int64, int64) error { return errNoCopyRange }
