package runtime

import (
	"debug/elf"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// Newer User-mode Linux kernels are linked against a newer glibc than an
// older host has (sid's 7.2 needs 2.38, bookworm has 2.36). Which one a
// host can run is read from ELF symbol versions: the libc defines
// GLIBC_2.x for every release it provides, the kernel binary needs the
// ones it was linked against. Reading them needs no C library and runs
// nothing.

// glibcPrefix starts glibc's symbol version names.
const glibcPrefix = "GLIBC_"

// libcGlobs are where a host keeps its C library: Debian's multiarch
// directories first, then the classic and merged-/usr ones.
var libcGlobs = []string{
	"/lib/*-linux-gnu*/libc.so.6",
	"/usr/lib/*-linux-gnu*/libc.so.6",
	"/lib64/libc.so.6",
	"/usr/lib64/libc.so.6",
	"/lib/libc.so.6",
	"/usr/lib/libc.so.6",
}

// HostGlibc is the version of the host's GNU C library ("2.36"), found
// among libcGlobs for this process's architecture.
func HostGlibc() (string, error) {
	_, v, err := hostLibc()
	return v, err
}

// hostLibc is the host's libc.so.6 and its version.
func hostLibc() (path, version string, err error) {
	for _, g := range libcGlobs {
		paths, _ := filepath.Glob(g)
		for _, p := range paths {
			if v, err := GlibcVersion(p); err == nil {
				return p, v, nil
			}
		}
	}
	return "", "", errors.New("no GNU C library for " + goruntime.GOARCH + " found on the host")
}

// GlibcVersion is the newest GLIBC_x.y version a libc.so.6 defines: the
// release it is. A library for another architecture is an error.
func GlibcVersion(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if f.Machine != hostMachine() {
		return "", fmt.Errorf("%s: built for %s, not %s", path, f.Machine, goruntime.GOARCH)
	}
	defs, err := f.DynamicVersions()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	v := newestGlibc(names)
	if v == "" {
		return "", fmt.Errorf("%s defines no %s versions: not a GNU C library", path, glibcPrefix)
	}
	return v, nil
}

// GlibcNeeded is the newest GLIBC_x.y version the program at path needs;
// "" for a program that needs none (static, or not linked to glibc).
func GlibcNeeded(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	needs, err := f.DynamicVersionNeeds()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var names []string
	for _, n := range needs {
		if strings.HasPrefix(n.Name, "libc.so") {
			for _, d := range n.Needs {
				names = append(names, d.Dep)
			}
		}
	}
	return newestGlibc(names), nil
}

// newestGlibc picks the highest of names that are GLIBC_x.y versions,
// without the prefix; GLIBC_PRIVATE and friends are not releases.
func newestGlibc(names []string) string {
	var best archive.Version
	found := ""
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, glibcPrefix)
		if !ok || !glibcVersion(rest) {
			continue
		}
		v, err := archive.ParseVersion(rest)
		if err != nil {
			continue
		}
		if found == "" || v.Compare(best) > 0 {
			best, found = v, rest
		}
	}
	return found
}

// glibcVersion reports whether v (after GLIBC_) is a release, not PRIVATE.
func glibcVersion(v string) bool { return v != "" && v[0] >= '0' && v[0] <= '9' }

// glibcAtLeast reports whether glibc version have provides want.
func glibcAtLeast(have, want string) bool {
	h, err1 := archive.ParseVersion(have)
	w, err2 := archive.ParseVersion(want)
	return err1 == nil && err2 == nil && h.Compare(w) >= 0
}

func hostMachine() elf.Machine {
	switch goruntime.GOARCH {
	case "amd64":
		return elf.EM_X86_64
	case "386":
		return elf.EM_386
	case "arm64":
		return elf.EM_AARCH64
	case "arm":
		return elf.EM_ARM
	case "riscv64":
		return elf.EM_RISCV
	case "ppc64le", "ppc64":
		return elf.EM_PPC64
	case "s390x":
		return elf.EM_S390
	}
	return elf.EM_NONE
}

// hostCanRun reports whether the host's glibc provides what the program
// at path needs. Unknown is yes: the kernel then fails at boot with the
// loader's own message.
func hostCanRun(path, hostGlibc string) bool {
	if hostGlibc == "" {
		return true
	}
	need, err := GlibcNeeded(path)
	if err != nil || need == "" {
		return true
	}
	return glibcAtLeast(hostGlibc, need)
}
