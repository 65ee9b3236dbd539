// Package initramfs builds the initial RAM filesystem the guest kernel
// boots from: a newc cpio archive whose /init is coinit (see
// runtime/coinit), which mounts the cobd root and hands over to it.
//
// coinit is the corun executable itself, so the archive is built from
// whatever binary is running. A binary built with cgo is dynamically
// linked; its ELF interpreter and the shared libraries it needs are added
// at the paths the interpreter searches, so the guest — the same
// architecture as the host, as User-mode Linux always is — can run it.
package initramfs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/colinux-ng/colinux/internal/atomicfile"
)

// Dirs the kernel and coinit need before anything is mounted.
var baseDirs = []string{"dev", "proc", "sys", "newroot"}

// Build writes an initramfs holding exe as /init to w.
func Build(w io.Writer, exe string) error {
	body, err := os.ReadFile(exe)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	libs, err := sharedObjects(exe)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", exe, err)
	}
	c := &cpioWriter{w: w}
	dirs := map[string]bool{}
	for _, d := range baseDirs {
		dirs[d] = true
	}
	for guestPath := range libs {
		for d := path.Dir(strings.TrimPrefix(guestPath, "/")); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted) // parents sort before their children
	for _, d := range sorted {
		c.dir(d)
	}
	// The kernel opens /dev/console for init's stdio before anything is
	// mounted on /dev, so the node must be in the archive.
	c.charDev("dev/console", 5, 1)
	c.file("init", 0o755, body)
	guestPaths := make([]string, 0, len(libs))
	for p := range libs {
		guestPaths = append(guestPaths, p)
	}
	sort.Strings(guestPaths)
	for _, p := range guestPaths {
		lib, err := os.ReadFile(libs[p])
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		c.file(p, 0o755, lib)
	}
	return c.close()
}

// staleAfter is how old another executable's cached archive must be
// before Cached removes it; younger ones may be in use by a running
// instance of an older corun.
const staleAfter = 24 * time.Hour

// Cached returns the path of an initramfs for exe inside dir, building it
// on first use. The name is derived from the executable's identity (path,
// inode, size, modification time), so rebuilding corun makes a new one.
func Cached(dir, exe string) (string, error) {
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	f, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	defer f.Abort()
	if err := Build(f, exe); err != nil {
		return "", err
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
