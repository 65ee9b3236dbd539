//go:build unix

package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// lock marks f as being written: a run that finds it while looking for
// stale temporary files leaves it alone. The lock goes with the
// descriptor, so a killed writer's file is free.
func lock(f *os.File) {
	unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// removeUnlocked removes path unless a writer holds its lock.
func removeUnlocked(path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		os.Remove(path)
	}
}
