//go:build !windows

package atomicfile

import "os"

// MarkSparse does nothing here: Unix file systems leave a range that is
// skipped (written past, or sized with Truncate) as a hole by themselves,
// and those that cannot store zeros.
func MarkSparse(*os.File) {}
