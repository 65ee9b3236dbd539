package runtime

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// Virtiofsd is the Debian package of the vhost-user file server that
// gives a QEMU guest its cofs shares.
const Virtiofsd = "virtiofsd"

// Where Debian (13 on) and Fedora install virtiofsd. Not
// /usr/lib/qemu/virtiofsd: there older QEMU packages kept the C
// virtiofsd, whose options differ.
var hostVirtiofsd = []string{"/usr/libexec/virtiofsd"}

// HostVirtiofsd returns the command of a virtiofsd the host has
// installed, or nil.
func HostVirtiofsd() []string {
	for _, p := range hostVirtiofsd {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return []string{p}
		}
	}
	if p, err := exec.LookPath(Virtiofsd); err == nil {
		return []string{p}
	}
	return nil
}

// Layout of a cached virtiofsd: the packages' trees unpacked together.
const (
	virtiofsdSub = "virtiofsd"
	virtiofsdBin = "usr/libexec/virtiofsd"
)

// EnsureVirtiofsd returns the command running virtiofsd: the host's, else
// the newest cached one, else one fetched. virtiofsd is packaged from
// Debian 13 on, built against that release's C library, so the fetched
// one comes with its libraries (libc6 and the others it depends on) from
// the same suite and runs through that suite's dynamic loader: nothing of
// the host's libraries is used or changed.
func (c Cache) EnsureVirtiofsd(ctx context.Context, src Source) ([]string, error) {
	if cmd, ok := c.FindVirtiofsd(); ok {
		return cmd, nil
	}
	return c.FetchVirtiofsd(ctx, src)
}

// FindVirtiofsd returns the command running the virtiofsd corun uses
// without fetching one: the host's, else the newest cached.
func (c Cache) FindVirtiofsd() ([]string, bool) {
	if cmd := HostVirtiofsd(); cmd != nil {
		return cmd, true
	}
	return c.latestVirtiofsd()
}

func (c Cache) latestVirtiofsd() ([]string, bool) {
	entries, _ := os.ReadDir(filepath.Join(c.Dir, virtiofsdSub))
	var versions []archive.Version
	for _, e := range entries {
		if v, err := archive.ParseVersion(e.Name()); err == nil && e.IsDir() {
			versions = append(versions, v)
		}
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].Compare(versions[j]) > 0 })
	for _, v := range versions {
		if cmd, err := virtiofsdCommand(filepath.Join(c.Dir, virtiofsdSub, v.String())); err == nil {
			return cmd, true
		}
	}
	return nil, false
}

// FetchVirtiofsd downloads virtiofsd and the libraries it links from
// src.Suite (default: the host's release, or "stable" when the host's
// release has no virtiofsd) through the verified archive client, and
// unpacks them into the cache.
func (c Cache) FetchVirtiofsd(ctx context.Context, src Source) ([]string, error) {
	mirror, err := archive.MirrorFrom(src.Mirror)
	if err != nil {
		return nil, fmt.Errorf("fetch virtiofsd: %w", err)
	}
	suites := []string{src.Suite}
	if src.Suite == "" {
		suites = []string{hostSuite(), "stable"}
	}
	var (
		client *archive.Client
		ix     *archive.Index
	)
	for _, s := range suites {
		client = &archive.Client{Mirror: mirror, Suite: s, Progress: src.Progress}
		if ix, err = client.Index(ctx); err != nil {
			return nil, fmt.Errorf("fetch virtiofsd: %w", err)
		}
		if ix.Lookup(Virtiofsd) != nil {
			break
		}
	}
	pkgs, err := libraryClosure(ix, Virtiofsd)
	if err != nil {
		return nil, fmt.Errorf("fetch virtiofsd: %s: %w", client.Suite, err)
	}
	dest := filepath.Join(c.Dir, virtiofsdSub, pkgs[0].Version)
	if cmd, err := virtiofsdCommand(dest); err == nil {
		return cmd, nil
	}
	debs, err := client.Fetch(ctx, pkgs)
	if err != nil {
		return nil, fmt.Errorf("fetch virtiofsd: %w", err)
	}
	if err := unpackTogether(ctx, filepath.Join(c.Dir, virtiofsdSub), dest, debs); err != nil {
		return nil, fmt.Errorf("unpack virtiofsd %s: %w", pkgs[0].Version, err)
	}
	return virtiofsdCommand(dest)
}

// libraryClosure is name and the shared-library packages (lib*) it
// depends on, directly or through each other; tools it merely calls
// (uidmap) and data packages are left out. name comes first.
func libraryClosure(ix *archive.Index, name string) ([]*archive.Package, error) {
	var out []*archive.Package
	seen := map[string]bool{}
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		p := ix.Lookup(n)
		if p == nil {
			return nil, fmt.Errorf("no %s package for %s", n, ix.Arch)
		}
		out = append(out, p)
		deps, err := archive.ParseRelations(p.Depends)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		for _, alt := range deps {
			if len(alt) > 0 && strings.HasPrefix(alt[0].Name, "lib") {
				queue = append(queue, alt[0].Name)
			}
		}
	}
	return out, nil
}

// unpackTogether extracts the .debs into one tree beside dest and renames
// it into place, so that a cache entry is complete or absent.
func unpackTogether(ctx context.Context, base, dest string, debs []string) error {
	tmp, err := extractDebs(ctx, base, debs...)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := virtiofsdCommand(tmp); err != nil {
		return err
	}
	os.RemoveAll(dest) // an incomplete entry of the same version
	return os.Rename(tmp, dest)
}

// extractDebs unpacks the .debs' data into a new directory in base, which
// the caller removes.
func extractDebs(ctx context.Context, base string, debs ...string) (string, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(base, ".unpack-*")
	if err != nil {
		return "", err
	}
	for _, p := range debs {
		deb, err := archive.OpenDeb(p)
		if err != nil {
			os.RemoveAll(tmp)
			return "", err
		}
		_, err = deb.ExtractData(ctx, tmp, archive.ExtractOptions{Unprivileged: true})
		deb.Close()
		if err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
	}
	return tmp, nil
}

// virtiofsdCommand returns the command running the virtiofsd unpacked in
// root through root's own dynamic loader and libraries, after checking
// that every library the program and its libraries link is there.
func virtiofsdCommand(root string) ([]string, error) {
	bin := filepath.Join(root, virtiofsdBin)
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return nil, fmt.Errorf("%s: interpreter: %w", bin, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		return nil, fmt.Errorf("%s: no ELF interpreter", bin)
	}
	libcs, _ := filepath.Glob(filepath.Join(root, "usr/lib/*/libc.so.6"))
	if len(libcs) != 1 {
		return nil, fmt.Errorf("%s: want one libc.so.6 under usr/lib/*, found %d", root, len(libcs))
	}
	libdir := filepath.Dir(libcs[0])
	loader := filepath.Join(libdir, filepath.Base(interp))
	if _, err := os.Stat(loader); err != nil {
		return nil, fmt.Errorf("dynamic loader: %w", err)
	}
	if err := checkNeeded(f, libdir, map[string]bool{}); err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	return []string{loader, "--library-path", libdir, bin}, nil
}

// checkNeeded walks the DT_NEEDED entries of f through libdir.
func checkNeeded(f *elf.File, libdir string, seen map[string]bool) error {
	needed, err := f.ImportedLibraries()
	if err != nil {
		return err
	}
	for _, n := range needed {
		if seen[n] {
			continue
		}
		seen[n] = true
		if strings.ContainsRune(n, '/') {
			return fmt.Errorf("links %s by path", n)
		}
		lib, err := elf.Open(filepath.Join(libdir, n))
		if err != nil {
			return fmt.Errorf("needs %s: %w", n, err)
		}
		err = checkNeeded(lib, libdir, seen)
		lib.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
