//go:build !unix

package qemuconv

import "testing"

// allocated cannot be asked portably; 0 passes every bound.
func allocated(*testing.T, string) int64 { return 0 }
