// Package atomicfile writes an output so that it appears whole or not at
// all: data goes to a temporary file beside the destination, is fsynced, and
// is renamed into place only on Commit. Abort (or a crash) leaves nothing at
// the destination.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is an output being written. It embeds the temporary *os.File.
type File struct {
	*os.File
	dest string
	done bool
	// noReplace makes Commit refuse a destination that exists by then.
	noReplace bool
}

// Create starts writing dest. The temporary file lives in dest's directory
// so that the final rename never crosses filesystems.
func Create(dest string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create output for %s: %w", dest, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("create output for %s: %w", dest, err)
	}
	return &File{File: tmp, dest: dest}, nil
}

// Commit fsyncs the data, closes the file and renames it to the destination,
// then fsyncs the directory so the rename itself is durable.
func (f *File) Commit() error { return f.commit(true) }

// CommitVolatile renames the file into place whole, without the fsyncs:
// for state that means nothing after the host goes down (a running
// guest's record), where readers need only never see half a file.
func (f *File) CommitVolatile() error { return f.commit(false) }

func (f *File) commit(durable bool) error {
	if f.done {
		return fmt.Errorf("%s: output already finished", f.dest)
	}
	f.done = true
	tmp := f.Name()
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", f.dest, err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.dest, err)
	}
	if err := f.publish(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if !durable {
		return nil
	}
	if d, err := os.Open(filepath.Dir(f.dest)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// publish moves the finished temporary file to the destination. Without
// replacing, a hard link does it atomically (it fails if the destination
// exists), falling back to a check and a rename where the file system has
// no hard links.
func (f *File) publish(tmp string) error {
	if !f.noReplace {
		if fi, err := os.Lstat(f.dest); err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
			return fmt.Errorf("%s became %s meanwhile: %w", f.dest, kind(fi.Mode()), ErrNotRegular)
		}
		if err := os.Rename(tmp, f.dest); err != nil {
			return fmt.Errorf("write %s: %w", f.dest, err)
		}
		return nil
	}
	err := os.Link(tmp, f.dest)
	if err == nil {
		os.Remove(tmp)
		return nil
	}
	if _, serr := os.Lstat(f.dest); serr == nil {
		return fmt.Errorf("%s appeared while it was being written; --force replaces it: %w", f.dest, ErrExists)
	}
	if err := os.Rename(tmp, f.dest); err != nil {
		return fmt.Errorf("write %s: %w", f.dest, err)
	}
	return nil
}

// Abort discards the temporary file. It is safe to call after Commit, so
// callers can always `defer f.Abort()`.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile replaces dest with data whole, as Create, Write and Commit do.
func WriteFile(dest string, data []byte, perm os.FileMode) error {
	f, err := Create(dest, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}
