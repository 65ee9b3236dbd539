// Package initramfs builds the initial RAM filesystem the guest kernel
// boots from: a newc cpio archive whose /init is coinit (runtime/coinit),
// which loads the kernel modules an extension archive carries (QEMU's
// virtio drivers, see ModuleFiles), mounts the cobd root and hands over
// to it.
//
// coinit is a program of its own, built static (no cgo, so no shared
// libraries to carry) and embedded into corun at build time. Under
// User-mode Linux every first touch of a page is a host signal round trip,
// so the size of /init shows in every boot: corun itself as /init (26 MB,
// with the network stack's package initializers) took 0.3 s to reach its
// main function, the 3 MB coinit takes 0.1 s.
package initramfs

//go:generate env CGO_ENABLED=0 go build -trimpath -ldflags=-s -o embedded/coinit ../coinit/cmd/coinit

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/runtime/coinit"
	"github.com/colinux-ng/colinux/runtime/kmod"
)

//go:embed embedded
var embedded embed.FS

// Coinit returns the embedded coinit executable.
func Coinit() ([]byte, error) {
	b, err := embedded.ReadFile("embedded/coinit")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("initramfs: this corun was built without coinit; build it with `make build` (or run `go generate ./runtime/initramfs` before go build)")
	}
	return b, err
}

// Dirs the kernel and coinit need before anything is mounted.
var baseDirs = []string{"dev", "proc", "sys", "newroot"}

// Build writes an initramfs holding the executable init as /init to w.
func Build(w io.Writer, init []byte) error {
	c := &cpioWriter{w: w}
	for _, d := range baseDirs {
		c.dir(d)
	}
	// The kernel opens /dev/console for init's stdio before anything is
	// mounted on /dev, so the node must be in the archive.
	c.charDev("dev/console", 5, 1)
	c.file("init", 0o755, init)
	return c.close()
}

// ModuleFiles returns the modules, decompressed, as files for Extend in
// coinit.ModulesDir, with the order to load them in (dependencies first,
// as kmod.Resolve returns them): a guest kernel's drivers travel in the
// instance's own initramfs, beside the shared coinit archive.
func ModuleFiles(modules []kmod.Module) ([]File, error) {
	dir := strings.TrimPrefix(coinit.ModulesDir, "/")
	var files []File
	var order strings.Builder
	for _, m := range modules {
		b, err := kmod.Read(m.Path)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: dir + "/" + m.Name + ".ko", Data: b})
		order.WriteString(m.Name + ".ko\n")
	}
	return append(files, File{Name: dir + "/" + coinit.ModulesOrder, Data: []byte(order.String())}), nil
}

// staleAfter is how old another executable's cached archive must be
// before Cached removes it; younger ones may be in use by a running
// instance of another corun.
const staleAfter = 24 * time.Hour

// Cached returns the path of an initramfs holding the embedded coinit
// inside dir, building it on first use. The name is derived from the
// running executable's identity (path, inode, size, modification time),
// which fixes the embedded coinit: a rebuilt corun makes a new archive,
// and a cache hit costs a stat, not a read of coinit's 3 MB.
func Cached(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	id := fmt.Sprintf("%s\x00%d\x00%d", exe, fi.Size(), fi.ModTime().UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id += fmt.Sprintf("\x00%d\x00%d", st.Dev, st.Ino)
	}
	sum := sha256.Sum256([]byte(id))
	dest := filepath.Join(dir, "initramfs-"+hex.EncodeToString(sum[:8])+".cpio")
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	init, err := Coinit()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	f, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	defer f.Abort()
	if err := Build(f, init); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := f.Commit(); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	removeStale(dir, dest)
	return dest, nil
}

// removeStale deletes archives of other executables that have not been
// built for a day, so that rebuilding corun does not fill the cache.
func removeStale(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "initramfs-*.cpio"))
	for _, p := range old {
		if fi, err := os.Stat(p); err == nil && p != keep && time.Since(fi.ModTime()) > staleAfter {
			os.Remove(p)
		}
	}
}

// File is an extra file for Extend, readable by root alone in the guest.
type File struct {
	Name string // path inside the archive, without a leading /
	Data []byte
}

// Extend writes dest: the archive at base followed by a second archive
// holding files (and their directories). The kernel unpacks concatenated
// archives in turn, so one guest's secrets — the X cookie — travel in its
// own initramfs, readable by the instance's owner only, instead of on the
// kernel command line, which every host and guest user can read.
func Extend(dest, base string, files []File) error {
	in, err := os.Open(base)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer in.Close()
	f, err := atomicfile.Create(dest, 0o600)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer f.Abort()
	if _, err := io.Copy(f, in); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	c := &cpioWriter{w: f}
	var dirs []string
	for _, file := range files {
		for d := filepath.Dir(file.Name); d != "." && d != "/" && !slices.Contains(dirs, d); d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs) // parents first
	for _, d := range dirs {
		c.entry(d, modeDir|0o700, nil, 0, 0)
	}
	for _, file := range files {
		c.file(file.Name, 0o600, file.Data)
	}
	if err := c.close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}
