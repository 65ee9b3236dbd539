package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// Package is the Debian package holding the User-mode Linux kernel.
const Package = "user-mode-linux"

// A flavor is one kind of guest kernel: the Debian package it comes in,
// where the package keeps the kernel and its modules, and where the cache
// keeps them.
type flavor struct {
	monitor string
	sub     string // cache subdirectory; "" for UML, whose layout came first
	// pkg names the package for a Debian architecture; a metapackage is
	// followed to the versioned package it depends on.
	pkg     func(arch string) string
	kernel  string   // glob of the kernel binary inside the package
	modules []string // module trees inside the package; the first present is used
}

// Monitors whose kernels the cache holds.
const (
	UML  = "uml"
	QEMU = "qemu"
)

var flavors = map[string]flavor{
	UML: {
		monitor: UML,
		pkg:     func(string) string { return Package },
		kernel:  "usr/bin/linux.uml",
		modules: []string{"usr/lib/uml/modules"},
	},
	// Debian's cloud kernel: virtio drivers (as modules, which the
	// initramfs carries), no hardware zoo, small.
	QEMU: {
		monitor: QEMU,
		sub:     QEMU,
		pkg:     func(arch string) string { return "linux-image-cloud-" + arch },
		kernel:  "boot/vmlinuz-*",
		modules: []string{"usr/lib/modules", "lib/modules"},
	},
}

func flavorOf(monitor string) (flavor, error) {
	if monitor == "" {
		monitor = UML
	}
	f, ok := flavors[monitor]
	if !ok {
		return flavor{}, fmt.Errorf("no guest kernel for monitor %q", monitor)
	}
	return f, nil
}

// Source says where to fetch the kernel package from. The zero value uses
// the mirror of the host's apt sources (or $COIMAGE_DEBIAN_MIRROR) and the
// host's Debian release, and fetches the User-mode Linux kernel.
type Source struct {
	Mirror  string
	Suite   string
	Monitor string // UML ("" too) or QEMU
	// AllowExpired accepts a suite's Release past its Valid-Until, as a
	// snapshot mirror serves it (there, unstable and testing expire).
	AllowExpired bool
	// Progress, if set, follows the download.
	Progress func(done, total int64)
}

// Ensure returns the newest cached kernel for src.Monitor, fetching one
// when there is none.
func (c Cache) Ensure(ctx context.Context, src Source) (Kernel, error) {
	k, err := c.Latest(src.Monitor)
	if err == ErrNoKernel {
		return c.Fetch(ctx, src)
	}
	return k, err
}

// Fetch downloads the suite's kernel package for src.Monitor through the
// verified archive client and unpacks its kernel and modules into the
// cache, unless that version is already there.
func (c Cache) Fetch(ctx context.Context, src Source) (Kernel, error) {
	fl, err := flavorOf(src.Monitor)
	if err != nil {
		return Kernel{}, err
	}
	mirror, err := archive.MirrorFrom(src.Mirror)
	if err != nil {
		return Kernel{}, fmt.Errorf("fetch guest kernel: %w", err)
	}
	suites := []string{src.Suite}
	glibc := ""
	if src.Suite == "" {
		suites = []string{hostSuite()}
		if fl.monitor == UML {
			glibc, _ = HostGlibc()
			suites = umlSuites(glibc, suites[0])
		}
	}
	for i, suite := range suites {
		k, err := c.fetchFrom(ctx, fl, src, mirror, suite, glibc, i < len(suites)-1)
		if errors.Is(err, errSkipSuite) {
			continue
		}
		return k, err
	}
	return Kernel{}, fmt.Errorf("fetch guest kernel: no suite has a kernel this host runs")
}

// errSkipSuite is a newer suite without a kernel for this host: its index
// is out of reach, or its kernel needs a glibc the host lacks, even
// relinked. The next suite is tried.
var errSkipSuite = errors.New("no kernel for this host in this suite")

// fetchFrom fetches suite's kernel, unless that version is cached. With
// skippable, what the host cannot use is errSkipSuite.
func (c Cache) fetchFrom(ctx context.Context, fl flavor, src Source, mirror, suite, glibc string, skippable bool) (Kernel, error) {
	client := &archive.Client{Mirror: mirror, Suite: suite, Progress: src.Progress, AllowExpired: src.AllowExpired}
	ix, err := client.Index(ctx)
	var pkg *archive.Package
	if err == nil {
		pkg, err = lookupKernel(ix, fl.pkg(ix.Arch))
	}
	switch {
	case err != nil && skippable:
		return Kernel{}, errSkipSuite
	case err != nil:
		return Kernel{}, fmt.Errorf("fetch guest kernel: %s: %w", suite, err)
	case skippable && !runsOn(pkg, glibc):
		return Kernel{}, errSkipSuite
	}
	if k, ok := c.load(fl, pkg.Version); ok {
		return k, nil
	}
	debs, err := client.Fetch(ctx, []*archive.Package{pkg})
	if err != nil {
		return Kernel{}, fmt.Errorf("fetch guest kernel: %w", err)
	}
	if err := c.unpack(ctx, fl, debs[0], pkg.Version); err != nil {
		if skippable && errors.Is(err, errTooNewGlibc) {
			return Kernel{}, errSkipSuite
		}
		return Kernel{}, fmt.Errorf("unpack %s %s: %w", pkg.Name, pkg.Version, err)
	}
	k, ok := c.load(fl, pkg.Version)
	if !ok {
		return Kernel{}, fmt.Errorf("unpack %s %s: no kernel after unpacking", pkg.Name, pkg.Version)
	}
	return k, nil
}

// newSuites are where a newer User-mode Linux kernel than a stable
// release's is, newest first. Their kernels are the first with seccomp
// mode (sid's 7.2: a guest syscall in about half the time).
var newSuites = []string{"unstable", "testing"}

// c23Glibc is the newest glibc a kernel may be built against for an older
// host: sid's 7.2 needs 2.38 for its C23 functions alone, which
// relinkC23 binds to the older C ones.
const c23Glibc = "2.38"

// umlSuites lists the suites to take the UML kernel from, in order of
// preference: the newest ones first, and the host's own suite always
// last. A host whose glibc is unknown keeps to its own.
func umlSuites(glibc, host string) []string {
	if glibc == "" {
		return []string{host}
	}
	var out []string
	for _, s := range newSuites {
		if s != host {
			out = append(out, s)
		}
	}
	return append(out, host)
}

// runsOn reports whether pkg's libc6 dependency is met by a host with
// that glibc version ("" when unknown: assume yes), or may be once the
// kernel is relinked (a dependency on c23Glibc or older).
func runsOn(pkg *archive.Package, glibc string) bool {
	if glibc == "" {
		return true
	}
	deps, err := archive.ParseRelations(pkg.Depends)
	if err != nil {
		return false
	}
	for _, alt := range deps {
		for _, r := range alt {
			if r.Name != "libc6" || r.Version == "" {
				continue
			}
			// Debian's libc6 versions are the upstream one plus a
			// revision (2.38-1); a ">= 2.38" bound compares upstream.
			if (r.Op == ">=" || r.Op == ">>") && !glibcAtLeast(glibc, r.Version) && !glibcAtLeast(c23Glibc, r.Version) {
				return false
			}
		}
	}
	return true
}

// lookupKernel finds name in the index; a metapackage without a kernel of
// its own (linux-image-cloud-amd64) leads to the first package it depends
// on (linux-image-6.1.0-N-cloud-amd64).
func lookupKernel(ix *archive.Index, name string) (*archive.Package, error) {
	for hops := 0; hops < 3; hops++ {
		pkg := ix.Lookup(name)
		if pkg == nil {
			return nil, fmt.Errorf("no %s package for %s", name, ix.Arch)
		}
		if !strings.HasPrefix(name, "linux-image-") || pkg.Depends == "" {
			return pkg, nil
		}
		deps, err := archive.ParseRelations(pkg.Depends)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		next := ""
		for _, alt := range deps {
			if len(alt) > 0 && strings.HasPrefix(alt[0].Name, "linux-image-") {
				next = alt[0].Name
				break
			}
		}
		if next == "" {
			return pkg, nil // a versioned kernel package: its depends are tools
		}
		name = next
	}
	return nil, fmt.Errorf("%s: metapackages nest too deep", name)
}

// unpack extracts the verified .deb beside the cache entry and moves the
// kernel and modules in; the kernel binary comes last, marking the entry
// complete.
func (c Cache) unpack(ctx context.Context, fl flavor, debPath, version string) error {
	base := filepath.Join(c.Dir, fl.sub)
	tmp, err := extractDebs(ctx, base, debPath)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	kernels, _ := filepath.Glob(filepath.Join(tmp, fl.kernel))
	if len(kernels) != 1 {
		return fmt.Errorf("the package holds %d files matching %s, want one", len(kernels), fl.kernel)
	}
	if fl.monitor == UML {
		if err := relinkForHost(kernels[0]); err != nil {
			return err
		}
	}
	dest := filepath.Join(base, version)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	for _, m := range fl.modules {
		err := os.Rename(filepath.Join(tmp, m), filepath.Join(dest, modulesDir))
		if err == nil {
			break
		}
		if !os.IsNotExist(err) {
			return err
		}
	}
	return os.Rename(kernels[0], filepath.Join(dest, kernelFile))
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
