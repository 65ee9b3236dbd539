package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/recipe"
	"github.com/colinux-ng/colinux/pkg/treecache"
)

// Debian bootstraps Debian from a signed archive, without debootstrap:
// Go resolves, downloads and verifies the packages, unpacks them all and
// writes dpkg's database as "dpkg --unpack" would; then, chrooted into the
// target, the preinst scripts run and "dpkg --configure -a" finishes the
// installation.
type Debian struct{}

// Bootstrap implements Source.
func (Debian) Bootstrap(ctx context.Context, r *recipe.Recipe, target string, opts Options) (*Result, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	src := r.Source.Debian
	if src == nil {
		return nil, fmt.Errorf("%s: no debian source section", r.File)
	}
	mirror, err := debianMirror(opts.Mirror, src.Mirror)
	if err != nil {
		return nil, err
	}
	cacheDir, err := cacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	keys, err := debianKeys(r.HostPath(src.Keyring), src.Fingerprints)
	if err != nil {
		return nil, err
	}
	return aptBootstrap(ctx, r, target, opts, &archive.Client{Mirror: mirror, Keys: keys, CacheDir: cacheDir})
}

// debianKeys loads the archive keyring, narrowed to the keys the recipe
// pins when it pins any (the keyring package holds every current and
// recent archive key).
func debianKeys(path string, fingerprints []string) (openpgp.EntityList, error) {
	if len(fingerprints) == 0 {
		return archive.LoadKeyring(path)
	}
	keys, err := distkeys.LoadFile(path, fingerprints)
	if err != nil {
		return nil, fmt.Errorf("Debian archive keys: %w", err)
	}
	return keys, nil
}

// aptBootstrap installs a Debian-layout archive's packages (Debian's or
// Ubuntu's) with client, whose Mirror, Keys and CacheDir the caller set.
func aptBootstrap(ctx context.Context, r *recipe.Recipe, target string, opts Options, client *archive.Client) (*Result, error) {
	src := r.Source.Debian
	mirror, cacheDir := client.Mirror, client.CacheDir
	client.Suite, client.Components, client.Arch = src.Suite, src.Components, r.Image.Architecture
	opts.progress("index", 0, 0)
	rel, err := client.Release(ctx)
	if err != nil {
		return nil, err
	}
	pkgs, err := resolve(client, rel, r, func() (*archive.Index, error) { return loadIndex(ctx, client, rel) })
	if err != nil {
		return nil, err
	}
	// Each .deb is unpacked as soon as it is downloaded and verified,
	// while the others download; the build succeeds only once all are.
	opts.Progress = downloadsBehind(opts.Progress)
	client.Progress = func(done, total int64) { opts.progress("download", done, total) }
	fetchCtx, cancelFetch := context.WithCancel(ctx)
	defer cancelFetch()
	debs := fetchInBackground(fetchCtx, client, pkgs)

	epoch := epochOr(opts.SourceDateEpoch, rel.Date)
	key := ""
	if !opts.NoBaseCache {
		key = baseKey(mirror, r, pkgs, epoch)
	}
	base := treecache.Cache{Dir: filepath.Join(cacheDir, "base")}
	if err := cachedBase(ctx, base, key, target, opts, func() error {
		return installBase(ctx, r, target, mirror, pkgs, debs, epoch, opts)
	}); err != nil {
		cancelFetch()
		// A failed download is the better reason, when there was one.
		if ferr := debs.wait(); ferr != nil && !errors.Is(ferr, context.Canceled) {
			return nil, ferr
		}
		return nil, err
	}
	if err := debs.wait(); err != nil {
		return nil, err
	}
	res := &Result{Mirror: mirror, Suite: src.Suite, SourceDateEpoch: epoch}
	removed := map[string]bool{}
	for _, n := range r.Packages.Remove {
		removed[n] = true
	}
	for _, p := range pkgs {
		if !removed[p.Name] {
			res.Packages = append(res.Packages, Package{Name: p.Name, Version: p.Version, Architecture: p.Architecture, SHA256: p.SHA256, Size: p.Size})
		}
	}
	return res, nil
}

// installBase unpacks and configures the packages in the empty target
// and removes the recipe's unwanted ones.
func installBase(ctx context.Context, r *recipe.Recipe, target, mirror string, pkgs []*archive.Package, debs *pendingDebs, epoch int64, opts Options) error {
	if err := mergeUsr(target, r.Image.Architecture); err != nil {
		return err
	}
	units, err := unpackAll(ctx, target, pkgs, debs, opts)
	if err != nil {
		return err
	}
	if err := writeDpkgDB(target, units); err != nil {
		return err
	}
	if err := writeAptSources(target, mirror, r); err != nil {
		return err
	}
	ch := &Chroot{Root: target, Env: []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch, 10)}, Log: opts.Log}
	opts.progress("configure", 0, 0)
	if err := ch.Run(ctx, "configure packages", configureScript(units)); err != nil {
		return err
	}
	if len(r.Packages.Remove) > 0 { // names are validated by the recipe: shell-safe
		if err := ch.Run(ctx, "remove packages", "apt-get --yes --purge remove -- "+strings.Join(r.Packages.Remove, " ")); err != nil {
			return err
		}
	}
	return checkInstalled(target)
}

// debianMirror applies the precedence flag > $COIMAGE_DEBIAN_MIRROR >
// recipe > host apt sources.
func debianMirror(flag, fromRecipe string) (string, error) {
	if flag == "" && os.Getenv(archive.MirrorEnv) == "" {
		flag = fromRecipe
	}
	return archive.MirrorFrom(flag)
}

// cacheDir is dir, else the user's cache directory for coimage (the
// archive client's default, spelled out because the index cache shares it).
func cacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("package cache: %w", err)
	}
	return filepath.Join(base, "coimage"), nil
}

// withMergedUsr asks for usr-is-merged where the suite has it: mergeUsr
// already merged /usr, so the "usrmerge | usr-is-merged" dependency must
// not pull in usrmerge and with it perl, as mmdebstrap also avoids.
func withMergedUsr(ix *archive.Index, install []string) []string {
	if ix.Lookup("usr-is-merged") == nil {
		return install
	}
	return append([]string{"usr-is-merged"}, install...)
}

// mergeUsr creates the merged-/usr links Debian 12 expects (usr-is-merged
// checks them) before anything is unpacked through them, as debootstrap
// and mmdebstrap do.
func mergeUsr(target, arch string) error {
	dirs := []string{"bin", "sbin", "lib"}
	switch arch {
	case "amd64", "ppc64el", "mips64el", "loong64":
		dirs = append(dirs, "lib64")
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(target, "usr", d), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("usr/"+d, filepath.Join(target, d)); err != nil {
			return err
		}
	}
	return nil
}

// unpackAll extracts every package into target in order, so a later
// package wins a shared path whatever the timing. Decompression, the
// expensive part, runs ahead on every CPU.
func unpackAll(ctx context.Context, target string, pkgs []*archive.Package, debs *pendingDebs, opts Options) ([]*unpacked, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type opened struct {
		deb *archive.Deb
		buf []byte // backs deb; returned to bufs once unpacked
		err error
	}
	ready := make([]chan opened, len(pkgs))
	for i := range ready {
		ready[i] = make(chan opened, 1)
	}
	// The buffers decompressed debs are held in: one being unpacked, the
	// others decompressing ahead. Their number bounds the memory held.
	bufs := make(chan []byte, runtime.NumCPU()+2)
	for range cap(bufs) {
		bufs <- nil
	}
	go func() {
		for i := range pkgs {
			var buf []byte
			select {
			case buf = <-bufs:
			case <-ctx.Done():
				return
			}
			go func() {
				path, err := debs.path(ctx, i)
				var d *archive.Deb
				if err == nil {
					d, buf, err = openDeb(ctx, path, buf)
				}
				ready[i] <- opened{d, buf, err}
			}()
		}
	}()

	var total, done int64
	for _, p := range pkgs {
		total += p.Size
	}
	out := make([]*unpacked, len(pkgs))
	for i, p := range pkgs {
		opts.progress("unpack", done, total)
		var o opened
		select {
		case o = <-ready[i]:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if o.err != nil {
			return nil, fmt.Errorf("package %s: %w", p, o.err)
		}
		u, err := unpack(ctx, target, p, o.deb)
		o.deb.Close()
		bufs <- o.buf
		if err != nil {
			return nil, err
		}
		out[i] = u
		done += p.Size
	}
	opts.progress("unpack", total, total)
	return out, nil
}

// unpack extracts one verified .deb and stages its conffiles.
func unpack(ctx context.Context, target string, p *archive.Package, d *archive.Deb) (*unpacked, error) {
	ctl, err := d.Control()
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", p, err)
	}
	if got := ctl.Fields.Get("Package"); got != p.Name {
		return nil, fmt.Errorf("package %s: its .deb holds package %q: %w", p, got, archive.ErrFormat)
	}
	entries, err := d.ExtractData(ctx, target, unpackOptions)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", p, err)
	}
	u := &unpacked{pkg: p, control: ctl, conffiles: parseConffiles(ctl.Files["conffiles"])}
	for _, e := range entries {
		u.files = append(u.files, e.Path)
	}
	return u, u.stageConffiles(target)
}

// configureScript runs, inside the target, each preinst as "dpkg
// --unpack" would have (the files are already in place, which preinst
// scripts of a fresh install tolerate), then configures base-passwd and
// base-files first, as every later postinst may need users and the base
// layout, and then everything else in dpkg's dependency order.
func configureScript(units []*unpacked) string {
	var b strings.Builder
	b.WriteString("set -e\nexport DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1\n")
	first := []string{}
	for _, u := range units {
		if _, ok := u.control.Files["preinst"]; ok {
			fmt.Fprintf(&b, "DPKG_MAINTSCRIPT_PACKAGE=%s DPKG_MAINTSCRIPT_ARCH=%s DPKG_MAINTSCRIPT_NAME=preinst /var/lib/dpkg/info/%s.preinst install\n",
				u.pkg.Name, u.pkg.Architecture, u.infoName())
		}
		if u.pkg.Name == "base-passwd" || u.pkg.Name == "base-files" {
			first = append(first, u.pkg.Name)
		}
	}
	if len(first) > 0 {
		b.WriteString("dpkg --force-depends --configure " + strings.Join(first, " ") + "\n")
	}
	b.WriteString("dpkg --configure -a\n")
	return b.String()
}

// archiveKeyrings are where each distribution's keyring package installs
// the archive keys inside the image.
var archiveKeyrings = map[string]string{
	recipe.Debian: recipe.DefaultDebianKeyring,
	recipe.Ubuntu: "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
}

// writeAptSources points apt inside the image at the mirror the image was
// built from, in <distribution>.sources.
func writeAptSources(target, mirror string, r *recipe.Recipe) error {
	src := r.Source.Debian
	dir := filepath.Join(target, "etc/apt/sources.list.d")
	if _, err := os.Stat(filepath.Dir(dir)); err != nil {
		return nil // no apt in this image
	}
	text := fmt.Sprintf("Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", mirror, src.Suite, strings.Join(src.Components, " "))
	keyring := archiveKeyrings[r.Source.Type]
	if _, err := os.Stat(filepath.Join(target, keyring)); err == nil {
		text += "Signed-By: " + keyring + "\n"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, r.Source.Type+".sources"), []byte(text), 0o644)
}

// checkInstalled fails unless dpkg reports every package installed.
func checkInstalled(target string) error {
	status := filepath.Join(target, dpkgDir, "status")
	data, err := os.ReadFile(status)
	if err != nil {
		return err
	}
	if bad := notInstalled(data); len(bad) > 0 {
		return fmt.Errorf("%s: packages left unconfigured: %s", status, strings.Join(bad, ", "))
	}
	return nil
}
