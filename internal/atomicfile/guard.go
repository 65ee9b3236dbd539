package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Errors CreateOutput and Commit return when an output would destroy
// something.
var (
	// ErrExists: the destination exists and Guard.Force is not set.
	ErrExists = errors.New("output exists")
	// ErrSameAsInput: the destination is one of the inputs.
	ErrSameAsInput = errors.New("output is an input")
	// ErrNotRegular: the destination is a device, FIFO, socket or directory.
	ErrNotRegular = errors.New("output is not a regular file")
)

// Guard says what an output may replace. The zero Guard replaces nothing.
type Guard struct {
	// Force lets an existing regular file (or symbolic link) at the
	// destination be replaced (the CLI's --force).
	Force bool
	// Inputs are the files the command reads. The destination may never
	// be one of them, also through links, Force or not.
	Inputs []string
}

// CreateOutput checks dest against g before any work is done, removes
// temporary files that a killed run left beside dest, and starts writing
// dest. Without g.Force, Commit also refuses a file that appeared at dest
// meanwhile.
func CreateOutput(dest string, perm os.FileMode, g Guard) (*File, error) {
	if err := g.check(dest); err != nil {
		return nil, err
	}
	removeStale(dest)
	f, err := Create(dest, perm)
	if err != nil {
		return nil, err
	}
	lock(f.File)
	f.noReplace = !g.Force
	return f, nil
}

// check applies the guard's rules to dest as it is now.
func (g Guard) check(dest string) error {
	fi, err := os.Lstat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	target := fi
	if fi.Mode()&fs.ModeSymlink != 0 {
		if st, err := os.Stat(dest); err == nil {
			target = st
		}
	}
	if !target.Mode().IsRegular() && target.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s is %s, not a regular file; name a file to write: %w", dest, kind(target.Mode()), ErrNotRegular)
	}
	for _, in := range g.Inputs {
		if st, err := os.Stat(in); err == nil && os.SameFile(st, target) {
			return fmt.Errorf("%s is the input %s (the same file); write the output elsewhere: %w", dest, in, ErrSameAsInput)
		}
	}
	if !g.Force {
		return fmt.Errorf("%s exists; --force replaces it: %w", dest, ErrExists)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// removeStale removes the temporary files of dest that no running writer
// holds: those a killed run left behind.
func removeStale(dest string) {
	dir, base := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp-"
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		removeUnlocked(filepath.Join(dir, e.Name()))
	}
}
