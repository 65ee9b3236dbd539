//go:build !windows

package osfile

import "os"

// Open is os.Open: Unix lets others rename or remove an open file.
func Open(path string) (*os.File, error) { return os.Open(path) }

// CreateScratch creates a new file in dir (os.CreateTemp's pattern) and
// removes its name at once: the data goes away with the last descriptor,
// however the process ends.
func CreateScratch(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
