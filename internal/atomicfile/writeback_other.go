//go:build !linux

package atomicfile

import "os"

// StartWriteback has no portable equivalent; Commit's fsync does the work.
func StartWriteback(*os.File, int64, int64) {}
