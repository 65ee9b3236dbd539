package osfile

import (
	"os"

	"golang.org/x/sys/windows"
)

// Open opens path for reading, letting others rename or remove it
// meanwhile (FILE_SHARE_DELETE), as Unix does.
func Open(path string) (*os.File, error) {
	return open(path, windows.GENERIC_READ, 0)
}

// CreateScratch creates a new file in dir (os.CreateTemp's pattern) that
// goes away when it is closed, also when the process is killed:
// FILE_FLAG_DELETE_ON_CLOSE, the counterpart of Unix's unlinking an open
// file.
func CreateScratch(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	name := f.Name()
	f.Close()
	s, err := open(name, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.FILE_FLAG_DELETE_ON_CLOSE)
	if err != nil {
		os.Remove(name)
		return nil, err
	}
	return s, nil
}

func open(path string, access, flags uint32) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL|flags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
