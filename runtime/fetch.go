package runtime

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// Package is the Debian package holding the guest kernel.
const Package = "user-mode-linux"

// Paths inside the package.
const (
	debKernel  = "usr/bin/linux.uml"
	debModules = "usr/lib/uml/modules"
)

// Source says where to fetch the kernel package from. The zero value uses
// the mirror of the host's apt sources (or $COIMAGE_DEBIAN_MIRROR) and the
// host's Debian release.
type Source struct {
	Mirror string
	Suite  string
	// Progress, if set, follows the download.
	Progress func(done, total int64)
}

// Ensure returns the newest cached kernel, fetching one when the cache is
// empty.
func (c Cache) Ensure(ctx context.Context, src Source) (Kernel, error) {
	k, err := c.Latest()
	if err == ErrNoKernel {
		return c.Fetch(ctx, src)
	}
	return k, err
}

// Fetch downloads the suite's user-mode-linux package through the verified
// archive client and unpacks its kernel and modules into the cache, unless
// that version is already there.
func (c Cache) Fetch(ctx context.Context, src Source) (Kernel, error) {
	mirror, err := archive.MirrorFrom(src.Mirror)
	if err != nil {
		return Kernel{}, fmt.Errorf("fetch guest kernel: %w", err)
	}
	client := &archive.Client{Mirror: mirror, Suite: src.Suite, Progress: src.Progress}
	if client.Suite == "" {
		client.Suite = hostSuite()
	}
	ix, err := client.Index(ctx)
	if err != nil {
		return Kernel{}, fmt.Errorf("fetch guest kernel: %w", err)
	}
	pkg := ix.Lookup(Package)
	if pkg == nil {
		return Kernel{}, fmt.Errorf("fetch guest kernel: %s has no %s package for %s", client.Suite, Package, ix.Arch)
	}
	if k, ok := c.load(pkg.Version); ok {
		return k, nil
	}
	debs, err := client.Fetch(ctx, []*archive.Package{pkg})
	if err != nil {
		return Kernel{}, fmt.Errorf("fetch guest kernel: %w", err)
	}
	if err := c.unpack(ctx, debs[0], pkg.Version); err != nil {
		return Kernel{}, fmt.Errorf("unpack %s %s: %w", Package, pkg.Version, err)
	}
	k, ok := c.load(pkg.Version)
	if !ok {
		return Kernel{}, fmt.Errorf("unpack %s %s: no kernel after unpacking", Package, pkg.Version)
	}
	return k, nil
}

// unpack extracts the verified .deb beside the cache entry and moves the
// kernel and modules in; the kernel binary comes last, marking the entry
// complete.
func (c Cache) unpack(ctx context.Context, debPath, version string) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(c.Dir, ".unpack-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	deb, err := archive.OpenDeb(debPath)
	if err != nil {
		return err
	}
	defer deb.Close()
	if _, err := deb.ExtractData(ctx, tmp, archive.ExtractOptions{Unprivileged: true}); err != nil {
		return err
	}
	dest := filepath.Join(c.Dir, version)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, debModules), filepath.Join(dest, modulesDir)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.Rename(filepath.Join(tmp, debKernel), filepath.Join(dest, kernelFile))
}

// hostSuite is the host's Debian codename, or "stable" elsewhere.
func hostSuite() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "stable"
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			fields[k] = strings.Trim(v, `"`)
		}
	}
	if fields["ID"] == "debian" && fields["VERSION_CODENAME"] != "" {
		return fields["VERSION_CODENAME"]
	}
	return "stable"
}
