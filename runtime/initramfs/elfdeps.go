package initramfs

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
)

// sharedObjects returns what a dynamically linked exe needs to run, as a
// map from the path the guest will look it up by to the host file to copy:
// the ELF interpreter at its PT_INTERP path and every DT_NEEDED library,
// recursively, in the first directory of the interpreter's default search
// path that has it. A static executable needs nothing.
func sharedObjects(exe string) (map[string]string, error) {
	interp, err := interpreter(exe)
	if err != nil || interp == "" {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(interp)
	if err != nil {
		return nil, fmt.Errorf("ELF interpreter: %w", err)
	}
	// glibc's built-in search path: its own (multiarch) directory first.
	search := []string{filepath.Dir(real), "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	out := map[string]string{interp: real}
	queue := []string{exe}
	for len(queue) > 0 {
		needed, err := neededLibs(queue[0])
		queue = queue[1:]
		if err != nil {
			return nil, err
		}
		for _, name := range needed {
			if found(out, name) {
				continue
			}
			p, ok := lookup(search, name)
			if !ok {
				return nil, fmt.Errorf("shared library %s not found in %v", name, search)
			}
			out[p] = p
			queue = append(queue, p)
		}
	}
	return out, nil
}

func found(have map[string]string, name string) bool {
	for p := range have {
		if filepath.Base(p) == name {
			return true
		}
	}
	return false
}

func lookup(dirs []string, name string) (string, bool) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, true
		}
	}
	return "", false
}

// interpreter returns exe's PT_INTERP path, or "" for a static binary.
func interpreter(exe string) (string, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return "", err
			}
			for len(b) > 0 && b[len(b)-1] == 0 {
				b = b[:len(b)-1]
			}
			return string(b), nil
		}
	}
	return "", nil
}

func neededLibs(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return libs, nil
}
