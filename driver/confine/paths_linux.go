package confine

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// libDirs are where the dynamic loader finds libraries on Debian-like
// hosts, multiarch first.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// elfDeps returns what running the program at path needs besides
// itself: its ELF interpreter, the libraries it names and theirs, and
// the loader's cache. A static program needs nothing.
func elfDeps(path string) ([]string, error) {
	var deps []string
	seen := map[string]bool{}
	var walk func(file string, root bool) error
	walk = func(file string, root bool) error {
		f, err := elf.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if root {
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					b := make([]byte, p.Filesz)
					if _, err := p.ReadAt(b, 0); err != nil {
						return fmt.Errorf("%s: interpreter: %w", file, err)
					}
					deps = append(deps, strings.TrimRight(string(b), "\x00"))
				}
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		dirs := append(runPath(f, file), libDirs...)
		for _, lib := range libs {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			found := ""
			for _, d := range dirs {
				if p := filepath.Join(d, lib); exists(p) {
					found = p
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s: library %s not found", file, lib)
			}
			deps = append(deps, found)
			if err := walk(found, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(path, true); err != nil {
		return nil, err
	}
	// glibc loads libgcc_s.so.1 itself (dlopen) to unwind a thread that
	// is cancelled: UML from 7.x on cancels its helper threads as it
	// halts, and aborts without it ("libgcc_s.so.1 must be installed for
	// pthread_cancel to work").
	for _, d := range deps {
		if filepath.Base(d) != "libc.so.6" {
			continue
		}
		if gcc := filepath.Join(filepath.Dir(d), "libgcc_s.so.1"); exists(gcc) && !slices.Contains(deps, gcc) {
			deps = append(deps, gcc)
		}
		break
	}
	if len(deps) > 0 && exists("/etc/ld.so.cache") {
		deps = append(deps, "/etc/ld.so.cache")
	}
	return deps, nil
}

// runPath is where the program's own RUNPATH (or older RPATH) sends the
// loader first, $ORIGIN being its directory: a kernel= binary pointed at
// a newer glibc than the host's, say.
func runPath(f *elf.File, file string) []string {
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", filepath.Dir(file))
				if filepath.IsAbs(d) {
					dirs = append(dirs, d)
				}
			}
		}
		if len(dirs) > 0 {
			break // with a RUNPATH, the loader ignores RPATH
		}
	}
	return dirs
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// resolve returns path with every symlink on the way followed, and the
// links met: link path → its target as written. The jail recreates the
// links so that paths keep working inside it (/lib64/ld-linux… → /lib…).
func resolve(path string, links map[string]string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%s: not an absolute path", path)
	}
	rest := strings.Split(strings.TrimPrefix(filepath.Clean(path), "/"), "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		next := filepath.Join(cur, rest[0])
		rest = rest[1:]
		fi, err := os.Lstat(next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", path)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		links[next] = target
		if !filepath.IsAbs(target) {
			target = filepath.Join(cur, target)
		}
		rest = append(strings.Split(strings.TrimPrefix(filepath.Clean(target), "/"), "/"), rest...)
		cur = "/"
	}
	return cur, nil
}

// resolved is a Policy with every path absolute, symlink-free and
// existing (optional ones that do not are dropped), the programs'
// dependencies added, and the links met on the way.
type resolved struct {
	Policy
	Links map[string]string `json:"links,omitempty"`
}

func (p Policy) resolve() (resolved, error) {
	r := resolved{Policy: Policy{NoRandomize: p.NoRandomize}, Links: map[string]string{}}
	var exec []string
	for _, prog := range p.Exec {
		deps, err := elfDeps(prog)
		if err != nil {
			return r, err
		}
		exec = append(exec, prog)
		exec = append(exec, deps...)
	}
	lists := []struct {
		in  []string
		out *[]string
	}{{exec, &r.Exec}, {p.Read, &r.Read}, {p.ReadWrite, &r.ReadWrite}, {p.Devices, &r.Devices}}
	for _, l := range lists {
		for _, path := range l.in {
			real, err := resolve(path, r.Links)
			if errors.Is(err, fs.ErrNotExist) && slices.Contains(p.Optional, path) {
				continue
			}
			if err != nil {
				return r, fmt.Errorf("confine: %s: %w", path, err)
			}
			if !slices.Contains(*l.out, real) {
				*l.out = append(*l.out, real)
			}
		}
	}
	return r, nil
}
