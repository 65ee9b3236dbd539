package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"golang.org/x/sync/errgroup"

	"github.com/colinux-ng/colinux/pkg/recipe"
	"github.com/colinux-ng/colinux/pkg/rpm"
	"github.com/colinux-ng/colinux/pkg/rpmrepo"
	"github.com/colinux-ng/colinux/pkg/treecache"
)

// fedoraBase is what the repo method always installs besides the
// recipe's packages (unless the recipe removes them): the release files
// and repository definitions, the accounts and directory tree, a shell,
// and rpm and dnf, which finish the installation and keep the image
// maintainable.
var fedoraBase = []string{"fedora-release", "setup", "filesystem", "bash", "rpm", "dnf"}

// firstUnpacked go first, so later packages find their owners' names in
// /etc/passwd and /etc/group and their directories (and /bin → usr/bin)
// in place.
var firstUnpacked = []string{"setup", "filesystem"}

// rpmDir is where the verified packages wait in the target for the
// second stage.
const rpmDir = "var/cache/coimage-rpms"

// maxPrimary bounds a decompressed primary.xml (Everything's is a few
// hundred MB).
const maxPrimary = 4 << 30

// fedoraRepos are the release's repositories below the mirror: the
// release as composed and its updates (rawhide has none).
func fedoraRepos(mirror, release, arch string) []string {
	if release == "rawhide" {
		return []string{mirror + "/development/rawhide/Everything/" + arch + "/os/"}
	}
	return []string{
		mirror + "/releases/" + release + "/Everything/" + arch + "/os/",
		mirror + "/updates/" + release + "/Everything/" + arch + "/",
	}
}

// bootstrapRepo installs Fedora from its package repositories, as
// mkosi and rinse do without dnf on the host: Go reads the metadata,
// resolves the recipe's packages with their requirements, downloads them
// (each checked against primary.xml's SHA256), checks every package's
// OpenPGP header signature against the recipe's key and its payload
// against the signed digest, and unpacks the payloads. Chrooted into the
// target, rpm then imports the pinned key and installs the same packages
// again, which runs their scriptlets and writes its database. Weak dependencies are
// not installed (dnf's install_weak_deps=False); packages.remove keeps a
// package out altogether.
func (Fedora) bootstrapRepo(ctx context.Context, r *recipe.Recipe, target string, rel *signedRelease, opts Options) (*Result, error) {
	src, arch := r.Source.Fedora, r.Image.Architecture
	opts.progress("index", 0, 0)
	repos := fedoraRepos(rel.mirror, src.Release, arch)
	var all []*rpmrepo.Package
	for i, base := range repos {
		pkgs, err := rel.primary(ctx, base, i, arch)
		if err != nil {
			return nil, err
		}
		all = append(all, pkgs...)
	}
	want := slices.DeleteFunc(slices.Clone(fedoraBase), func(n string) bool { return slices.Contains(r.Packages.Remove, n) })
	for _, n := range r.Packages.Install {
		if !slices.Contains(want, n) {
			want = append(want, n)
		}
	}
	pkgs, err := rpmrepo.NewIndex(all).Resolve(want, r.Packages.Remove)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.File, err)
	}
	files, err := rel.fetchRPMs(ctx, repos, pkgs, opts)
	if err != nil {
		return nil, err
	}
	var epoch int64
	for _, p := range pkgs {
		epoch = max(epoch, p.BuildTime)
	}
	if opts.SourceDateEpoch != nil {
		epoch = *opts.SourceDateEpoch
	}

	key := ""
	if !opts.NoBaseCache {
		key = fedoraBaseKey(rel.mirror, r, pkgs, epoch)
	}
	base := treecache.Cache{Dir: filepath.Join(filepath.Dir(rel.cache), "base")}
	if err := cachedBase(ctx, base, key, target, opts, func() error {
		opts.progress("unpack", 0, 0)
		slices.SortStableFunc(files, func(a, b verifiedRPM) int {
			return firstIndex(a.pkg.Name) - firstIndex(b.pkg.Name)
		})
		for _, f := range files {
			if err := unpackRPM(ctx, f, target); err != nil {
				return err
			}
		}
		return secondStage(ctx, target, files, rel.keys, epoch, opts)
	}); err != nil {
		return nil, err
	}
	res := &Result{Mirror: rel.mirror, Suite: src.Release, SourceDateEpoch: epoch}
	for _, p := range pkgs {
		res.Packages = append(res.Packages, Package{Name: p.Name, Version: p.EVR.String(), Architecture: p.Arch, SHA256: p.SHA256, Size: p.Size})
	}
	return res, nil
}

// fedoraBaseKey names an installed Fedora base by everything that
// decides its bytes (see baseKey); "" when the program is unknown.
func fedoraBaseKey(mirror string, r *recipe.Recipe, pkgs []*rpmrepo.Package, epoch int64) string {
	if programID() == "" {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "coimage fedora repo base v1\nprogram %s\nmirror %s\nrelease %s\narch %s\nepoch %d\n",
		programID(), mirror, r.Source.Fedora.Release, r.Image.Architecture, epoch)
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s %s\n", p.NEVRA(), p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func firstIndex(name string) int {
	if i := slices.Index(firstUnpacked, name); i >= 0 {
		return i
	}
	return len(firstUnpacked)
}

// primary reads repository base's repomd.xml and its primary.xml,
// verified against repomd's SHA256 and cached by it.
func (rel *signedRelease) primary(ctx context.Context, base string, n int, arch string) ([]*rpmrepo.Package, error) {
	url := base + "repodata/repomd.xml"
	repomd, err := rel.text(ctx, url)
	if err != nil {
		return nil, err
	}
	d, err := rpmrepo.Primary(repomd, url)
	if err != nil {
		return nil, err
	}
	got, err := rel.verified(ctx, base+d.Location, digest{Algo: "SHA256", Sum: d.SHA256, Size: d.Size}, func(int64, int64) {})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(got.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	plain, err := decompressed(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base+d.Location, err)
	}
	defer plain.Close()
	keep := func(a string) bool { return a == arch || a == "noarch" }
	return rpmrepo.ParsePrimary(io.LimitReader(plain, maxPrimary), n, keep, base+d.Location)
}

// verifiedRPM is a downloaded package whose signature and digests held.
type verifiedRPM struct {
	pkg  *rpmrepo.Package
	path string // in the download cache
}

// fetchRPMs downloads (or finds in the cache) and verifies the packages,
// a few at a time. Every package is verified on every build.
func (rel *signedRelease) fetchRPMs(ctx context.Context, repos []string, pkgs []*rpmrepo.Package, opts Options) ([]verifiedRPM, error) {
	var total, done int64
	for _, p := range pkgs {
		total += max(p.Size, 0)
	}
	out := make([]verifiedRPM, len(pkgs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	progress := make(chan int64)
	finished := make(chan struct{})
	go func() {
		for n := range progress {
			done += n
			opts.progress("download", done, total)
		}
		close(finished)
	}()
	for i, p := range pkgs {
		g.Go(func() error {
			url := repos[p.Repo] + p.Location
			got, err := rel.verified(gctx, url, digest{Algo: "SHA256", Sum: p.SHA256, Size: p.Size}, func(int64, int64) {})
			if err != nil {
				return err
			}
			v, err := verifyRPM(got.Path, url, p, rel)
			if err != nil {
				return err
			}
			out[i] = v
			progress <- got.Size
			return nil
		})
	}
	err := g.Wait()
	close(progress)
	<-finished
	if err != nil {
		return nil, err
	}
	return out, nil
}

// verifyRPM checks a cached package's signature and payload digest, and
// that it is the package primary.xml named (a mirror could otherwise list
// another validly signed package under its name).
func verifyRPM(path, url string, p *rpmrepo.Package, rel *signedRelease) (verifiedRPM, error) {
	pkg, f, err := openRPM(path, url)
	if err != nil {
		return verifiedRPM{}, err
	}
	defer f.Close()
	if _, err := pkg.Verify(rel.keys); err != nil {
		return verifiedRPM{}, err
	}
	if pkg.NEVRA() != p.NEVRA() {
		return verifiedRPM{}, fmt.Errorf("%s: the package is %s, primary.xml lists %s: %w", url, pkg.NEVRA(), p.NEVRA(), rpm.ErrDigest)
	}
	return verifiedRPM{pkg: p, path: path}, nil
}

// openRPM opens a package file; the caller closes the file.
func openRPM(path, name string) (*rpm.Package, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pkg, err := rpm.Open(f, fi.Size(), name)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return pkg, f, nil
}

// secondStage lets the target's rpm install the packages over their
// unpacked files: scriptlets run and /usr/lib/sysimage/rpm is written.
// The pinned key is imported first, so rpm checks the signatures again
// (rpm 6 insists on it) and dnf finds it later. The copies are removed
// after.
func secondStage(ctx context.Context, target string, files []verifiedRPM, keys openpgp.EntityList, epoch int64, opts Options) error {
	dir := filepath.Join(target, rpmDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var keyFiles []string
	armored, err := armoredKeys(keys)
	if err != nil {
		return err
	}
	for i, a := range armored {
		name := fmt.Sprintf("key-%d.asc", i)
		if err := os.WriteFile(filepath.Join(dir, name), a, 0o644); err != nil {
			return err
		}
		keyFiles = append(keyFiles, "/"+rpmDir+"/"+name)
	}
	var names []string
	for _, f := range files {
		name := filepath.Base(f.path) + ".rpm"
		if err := linkOrCopy(f.path, filepath.Join(dir, name)); err != nil {
			return err
		}
		names = append(names, "/"+rpmDir+"/"+name)
	}
	ch := &Chroot{Root: target, Env: []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", epoch)}, Log: opts.Log}
	opts.progress("configure", 0, 0)
	return ch.Run(ctx, "rpm install", "/usr/bin/rpm --import "+strings.Join(keyFiles, " ")+" && /usr/bin/rpm --install --force --nodeps --quiet "+strings.Join(names, " "))
}

// armoredKeys exports each public key in its own armored block: older
// rpm imports only the first key of a file.
func armoredKeys(keys openpgp.EntityList) ([][]byte, error) {
	var out [][]byte
	for _, k := range keys {
		var b bytes.Buffer
		w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
		if err != nil {
			return nil, err
		}
		if err := k.Serialize(w); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		out = append(out, b.Bytes())
	}
	return out, nil
}

// linkOrCopy hard-links src to dst, or copies it across file systems.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
