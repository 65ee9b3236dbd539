//go:build cgo && !purego

package release

/*
#include <malloc.h>
*/
import "C"

import "sync"

var mallocOnce sync.Once

// returnWindows makes glibc's malloc serve libzstd's 8 MiB decoder windows
// with mmap, and so return each to the system when its frame is done. By
// default glibc raises that threshold after the first such free and keeps
// later windows in per-thread arenas, which added about 10 MiB to pull's
// peak RSS.
func returnWindows() { mallocOnce.Do(func() { C.mallopt(C.M_MMAP_THRESHOLD, 1<<20) }) }
