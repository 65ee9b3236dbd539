//go:build !unix

package fetch

import (
	"context"
	"os"
)

// openPart opens (or creates) the .part file at path. Without flock, two
// Downloads of one dest are kept apart only where the system refuses to
// share an open file (Windows does for writing).
func openPart(_ context.Context, path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// closePart closes the .part and renames it to dest (Windows cannot rename
// an open file).
func closePart(f *os.File, part, dest string) error {
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(part, dest)
}
