// Package runtime provides what a guest boots with: the guest kernels and
// their modules — User-mode Linux from Debian's user-mode-linux package,
// cached in $XDG_CACHE_HOME/colinux/runtime/<package version>/, and for
// QEMU Debian's cloud kernel (linux-image-cloud-<arch>), cached in
// runtime/qemu/<package version>/ — fetched through the verified archive
// client (pkg/archive), and the initramfs holding coinit
// (runtime/initramfs, runtime/coinit, runtime/kmod).
package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// Kernel is a guest kernel ready to boot.
type Kernel struct {
	Monitor string // UML or QEMU: the monitor that boots it
	Version string // Debian package version; "" for a kernel= override
	Path    string // the kernel binary
	Release string // kernel release, the name under /lib/modules
	Modules string // host directory of Release's modules; "" when unknown
	// Mode is how a UML kernel runs its processes: Seccomp where it
	// supports that (faster syscalls), else Ptrace; "" for QEMU.
	Mode string
	// NoRandomize: the UML kernel wants address space randomization off
	// and re-executes itself through /proc/self/exe to get it, unless
	// started so.
	NoRandomize bool
}

// Cache is the runtime directory.
type Cache struct {
	Dir string
}

// DefaultCache is $XDG_CACHE_HOME/colinux/runtime (~/.cache/colinux/runtime).
func DefaultCache() (Cache, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return Cache{}, fmt.Errorf("runtime cache: %w", err)
	}
	return Cache{Dir: filepath.Join(dir, "colinux", "runtime")}, nil
}

// ErrNoKernel means nothing is cached yet.
var ErrNoKernel = errors.New("no guest kernel in the runtime cache")

// Layout of one cached version.
const (
	kernelFile = "linux"
	modulesDir = "modules"
)

// List returns the cached kernels of every monitor: UML's first, each
// monitor's newest package version first.
func (c Cache) List() ([]Kernel, error) {
	var out []Kernel
	for _, m := range []string{UML, QEMU} {
		ks, err := c.list(flavors[m])
		if err != nil {
			return nil, err
		}
		out = append(out, ks...)
	}
	return out, nil
}

func (c Cache) list(fl flavor) ([]Kernel, error) {
	entries, err := os.ReadDir(filepath.Join(c.Dir, fl.sub))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var out []Kernel
	for _, e := range entries {
		if k, ok := c.load(fl, e.Name()); ok {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		vi, _ := archive.ParseVersion(out[i].Version)
		vj, _ := archive.ParseVersion(out[j].Version)
		return vi.Compare(vj) > 0
	})
	return out, nil
}

// load reads a complete cached version; an interrupted unpack has no
// kernel binary, as it is renamed into place last.
func (c Cache) load(fl flavor, version string) (Kernel, bool) {
	dir := filepath.Join(c.Dir, fl.sub, version)
	k := Kernel{Monitor: fl.monitor, Version: version, Path: filepath.Join(dir, kernelFile)}
	if fi, err := os.Stat(k.Path); err != nil || !fi.Mode().IsRegular() {
		return k, false
	}
	if fl.monitor == UML {
		f := c.umlFacts(k.Path)
		k.Mode, k.NoRandomize = f.Mode, f.NoRandomize
	}
	releases, _ := os.ReadDir(filepath.Join(dir, modulesDir))
	if len(releases) == 1 {
		k.Release = releases[0].Name()
		k.Modules = filepath.Join(dir, modulesDir, k.Release)
	}
	return k, true
}

// Latest returns the newest cached kernel for monitor (UML or QEMU; ""
// is UML) that the host can run, or ErrNoKernel.
func (c Cache) Latest(monitor string) (Kernel, error) {
	fl, err := flavorOf(monitor)
	if err != nil {
		return Kernel{}, err
	}
	ks, err := c.list(fl)
	if err != nil {
		return Kernel{}, err
	}
	// A UML kernel is a host program: one from a newer suite may need a
	// newer glibc than the host has. A QEMU kernel runs anywhere.
	glibc := ""
	if fl.monitor == UML {
		glibc, _ = HostGlibc()
	}
	for _, k := range ks {
		if hostCanRun(k.Path, glibc) {
			return k, nil
		}
	}
	return Kernel{}, ErrNoKernel
}

// Override describes a kernel given as kernel=PATH for monitor (UML or
// QEMU; "" is UML).
func (c Cache) Override(monitor, path string) (Kernel, error) {
	fl, err := flavorOf(monitor)
	if err != nil {
		return Kernel{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Kernel{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel: %w", err)
	}
	if fl.monitor == QEMU {
		return overrideImage(abs, fi)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return Kernel{}, fmt.Errorf("kernel %s is not an executable file", path)
	}
	// Anything but a UML kernel fails later, at boot, with the kernel's
	// own output. Its modules are where Debian installs them beside the
	// binary.
	f := c.umlFacts(abs)
	return Kernel{Monitor: UML, Path: abs, Release: f.Release, Mode: f.Mode, NoRandomize: f.NoRandomize,
		Modules: modulesBeside(abs, "../lib/uml/modules", f.Release)}, nil
}

// overrideImage describes a bzImage for QEMU. Its release comes from the
// setup header's version string; its modules are looked for where a
// Debian system keeps them (/boot/vmlinuz-R → /lib/modules/R).
func overrideImage(path string, fi os.FileInfo) (Kernel, error) {
	if !fi.Mode().IsRegular() {
		return Kernel{}, fmt.Errorf("kernel %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel: %w", err)
	}
	defer f.Close()
	release, err := bzImageRelease(f)
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel %s: %w", path, err)
	}
	return Kernel{Monitor: QEMU, Path: path, Release: release, Modules: modulesBeside(path, "../lib/modules", release)}, nil
}

// bzImageRelease reads the kernel release from an x86 boot image: the
// setup header ("HdrS" at 0x202) points at a version string whose first
// word is the release.
func bzImageRelease(r io.ReaderAt) (string, error) {
	var hdr [0x210]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil || string(hdr[0x202:0x206]) != "HdrS" {
		return "", errors.New("not an x86 Linux boot image (bzImage)")
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	var v [256]byte
	n, _ := r.ReadAt(v[:], off)
	release, _, _ := strings.Cut(string(v[:n]), " ")
	if release == "" || strings.ContainsAny(release, "\x00/") {
		return "", errors.New("boot image has no readable kernel version")
	}
	return release, nil
}

// modulesBeside is rel/release next to the kernel at path, if that is a
// directory.
func modulesBeside(path, rel, release string) string {
	if release == "" {
		return ""
	}
	dir := filepath.Join(filepath.Dir(path), rel, release)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir
	}
	return ""
}
