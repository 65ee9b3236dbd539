// Package runtime provides what a guest boots with: the User-mode Linux
// kernel and its modules, fetched from Debian's user-mode-linux package
// through the verified archive client (pkg/archive) and cached in
// $XDG_CACHE_HOME/colinux/runtime/<package version>/, and the initramfs
// holding coinit (runtime/initramfs, runtime/coinit).
package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// Kernel is a guest kernel ready to boot.
type Kernel struct {
	Version string // Debian package version; "" for a kernel= override
	Path    string // the kernel binary
	Release string // kernel release, the name under /lib/modules
	Modules string // host directory of Release's modules; "" when unknown
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

// List returns the cached kernels, newest package version first.
func (c Cache) List() ([]Kernel, error) {
	entries, err := os.ReadDir(c.Dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var out []Kernel
	for _, e := range entries {
		if k, ok := c.load(e.Name()); ok {
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
func (c Cache) load(version string) (Kernel, bool) {
	dir := filepath.Join(c.Dir, version)
	k := Kernel{Version: version, Path: filepath.Join(dir, kernelFile)}
	if fi, err := os.Stat(k.Path); err != nil || !fi.Mode().IsRegular() {
		return k, false
	}
	releases, _ := os.ReadDir(filepath.Join(dir, modulesDir))
	if len(releases) == 1 {
		k.Release = releases[0].Name()
		k.Modules = filepath.Join(dir, modulesDir, k.Release)
	}
	return k, true
}

// Latest returns the newest cached kernel, or ErrNoKernel.
func (c Cache) Latest() (Kernel, error) {
	ks, err := c.List()
	if err != nil {
		return Kernel{}, err
	}
	if len(ks) == 0 {
		return Kernel{}, ErrNoKernel
	}
	return ks[0], nil
}

// Override describes a kernel given as kernel=PATH. Its modules are found
// where Debian installs them beside the binary (../lib/uml/modules/<release>).
func Override(path string) (Kernel, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Kernel{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return Kernel{}, fmt.Errorf("kernel %s is not an executable file", path)
	}
	k := Kernel{Path: abs}
	// A User-mode Linux kernel prints its release and exits; anything else
	// fails later, at boot, with the kernel's own output.
	if out, err := exec.Command(abs, "--version").Output(); err == nil {
		k.Release = strings.TrimSpace(string(out))
		dir := filepath.Join(filepath.Dir(abs), "..", "lib", "uml", "modules", k.Release)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() && k.Release != "" {
			k.Modules = filepath.Clean(dir)
		}
	}
	return k, nil
}
