// Package kmod reads a Linux kernel's module tree without modules.dep:
// Debian's kernel packages ship the modules but leave modules.dep to
// depmod at install time, so dependencies are read from each module's
// .modinfo section (depends=), the way depmod itself finds them.
package kmod

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ErrFormat means a module file is not a kernel module.
var ErrFormat = errors.New("kmod: not a kernel module")

// maxModule bounds a decompressed module; the largest in a distribution
// kernel are a few MiB.
const maxModule = 64 << 20

// Module is one module file of a tree.
type Module struct {
	Name string // canonical name: '-' spelled '_'
	Path string // host path, possibly compressed (.ko.xz, .ko.zst, .ko.gz)
}

// Tree is the module directory of one kernel release
// (/lib/modules/<release>).
type Tree struct {
	Dir     string
	files   map[string]string // name → path
	builtin map[string]bool   // modules.builtin: compiled into the kernel
}

// Open indexes the module files below dir and its modules.builtin list.
func Open(dir string) (*Tree, error) {
	t := &Tree{Dir: dir, files: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := moduleName(d.Name()); ok && d.Type().IsRegular() {
			t.files[name] = path
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	if f, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, ok := moduleName(filepath.Base(sc.Text())); ok {
				t.builtin[name] = true
			}
		}
		f.Close()
	}
	return t, nil
}

// moduleName is the canonical module name of a file name, if it is one.
func moduleName(file string) (string, bool) {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if base, ok := strings.CutSuffix(file, ext); ok && base != "" {
			return Canonical(base), true
		}
	}
	return "", false
}

// Canonical spells a module name as the kernel does: dashes are
// underscores.
func Canonical(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Resolve returns the modules to load for names, each after the modules
// it depends on. Names compiled into the kernel are left out; a name that
// is neither a file nor built in is an error.
func (t *Tree) Resolve(names ...string) ([]Module, error) {
	var out []Module
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(name string, from []string) error
	visit = func(name string, from []string) error {
		name = Canonical(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("kmod: dependency cycle: %s → %s", strings.Join(from, " → "), name)
		case 2:
			return nil
		}
		path, ok := t.files[name]
		if !ok {
			if t.builtin[name] {
				state[name] = 2
				return nil
			}
			if len(from) > 0 {
				return fmt.Errorf("kmod: %s needs %s, which is not in %s", from[len(from)-1], name, t.Dir)
			}
			return fmt.Errorf("kmod: no module %s in %s", name, t.Dir)
		}
		state[name] = 1
		info, err := ReadInfo(path)
		if err != nil {
			return err
		}
		for _, dep := range info.Depends {
			if err := visit(dep, append(from, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, Module{Name: name, Path: path})
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Info is what a module's .modinfo section says about loading it.
type Info struct {
	Name    string
	Depends []string
}

// ReadInfo reads the .modinfo of the module file at path.
func ReadInfo(path string) (Info, error) {
	b, err := Read(path)
	if err != nil {
		return Info{}, err
	}
	info, err := ParseInfo(bytes.NewReader(b))
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// ParseInfo reads the .modinfo section of an uncompressed module: NUL
// separated key=value strings.
func ParseInfo(r io.ReaderAt) (Info, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return Info{}, fmt.Errorf("%w: no .modinfo section", ErrFormat)
	}
	if sec.Size > maxModule {
		return Info{}, fmt.Errorf("%w: .modinfo of %d bytes", ErrFormat, sec.Size)
	}
	data, err := sec.Data()
	if err != nil {
		return Info{}, fmt.Errorf("%w: .modinfo: %v", ErrFormat, err)
	}
	var info Info
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, _ := strings.Cut(string(kv), "=")
		switch k {
		case "name":
			info.Name = v
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					info.Depends = append(info.Depends, Canonical(d))
				}
			}
		}
	}
	return info, nil
}

// Read returns the module file's contents, decompressed: the initramfs
// carries plain modules, so the guest kernel needs no decompressor for
// them.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("kmod: %s: %w", path, err)
		}
		r = xr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("kmod: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(path, ".gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("kmod: %s: %w", path, err)
		}
		r = gr
	}
	b, err := io.ReadAll(io.LimitReader(r, maxModule+1))
	if err != nil {
		return nil, fmt.Errorf("kmod: %s: %w", path, err)
	}
	if len(b) > maxModule {
		return nil, fmt.Errorf("kmod: %s: larger than %d MiB decompressed", path, maxModule>>20)
	}
	return b, nil
}
