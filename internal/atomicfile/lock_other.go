//go:build !unix

package atomicfile

import "os"

// lock does nothing where files cannot be locked this way; on Windows an
// open file cannot be removed anyway.
func lock(*os.File) {}

// removeUnlocked removes path; on Windows this fails while a writer has it
// open, which is what protects it.
func removeUnlocked(path string) { os.Remove(path) }
