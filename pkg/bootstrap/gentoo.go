package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// Gentoo bootstraps Gentoo from the current stage3 of the recipe's flavor:
//
//	<mirror>/releases/<arch>/autobuilds/
//	  latest-stage3-<arch>-<flavor>.txt          clearsigned pointer
//	  <stamp>/stage3-<arch>-<flavor>-<stamp>.tar.xz
//	  <stamp>/stage3-<arch>-<flavor>-<stamp>.tar.xz.DIGESTS   clearsigned
//	<mirror>/snapshots/portage-latest.tar.xz{,.gpgsig}       detached signature
//
// The pointer and the DIGESTS are checked against the recipe's key, the
// tarball against the DIGESTS' SHA512, and it is unpacked with ownership
// and extended attributes (file capabilities). When the recipe installs or
// removes packages (or sets portage), the signed portage snapshot becomes
// /var/db/repos/gentoo and emerge runs inside the target, preferring the
// binary package host when the recipe sets binpkgs.
type Gentoo struct{}

// Bootstrap implements Source.
func (Gentoo) Bootstrap(ctx context.Context, r *recipe.Recipe, target string, opts Options) (*Result, error) {
	src := r.Source.Gentoo
	if src == nil {
		return nil, fmt.Errorf("%s: no gentoo source section", r.File)
	}
	rel, err := openRelease(ctx, opts, recipe.Gentoo, GentooMirrorEnv, src.Mirror, GentooDefaultMirror,
		func(ctx context.Context, f *distkeys.Fetcher, fe *fetcher) (openpgp.EntityList, error) {
			return gentooKeys(ctx, r, f, fe, opts)
		})
	if err != nil {
		return nil, err
	}
	arch := r.Image.Architecture

	opts.progress("index", 0, 0)
	builds := rel.mirror + "/releases/" + arch + "/autobuilds/"
	pointerURL := builds + "latest-stage3-" + arch + "-" + src.Flavor + ".txt"
	pointer, err := rel.signedText(ctx, pointerURL)
	if err != nil {
		return nil, err
	}
	stage, size, err := parseLatest(pointer, arch, src.Flavor, pointerURL)
	if err != nil {
		return nil, err
	}
	stageURL := builds + stage
	digests, err := rel.signedText(ctx, stageURL+".DIGESTS")
	if err != nil {
		return nil, err
	}
	want, err := parseDigests(digests, path.Base(stage), size, stageURL+".DIGESTS")
	if err != nil {
		return nil, err
	}
	got, err := rel.verified(ctx, stageURL, want, func(done, total int64) { opts.progress("download", done, total) })
	if err != nil {
		return nil, err
	}
	opts.progress("unpack", 0, 0)
	newest, err := extractTarball(ctx, got.Path, target, stageURL)
	if err != nil {
		return nil, err
	}
	epoch := epochOr(opts.SourceDateEpoch, newest)
	res := &Result{Mirror: rel.mirror, Suite: path.Dir(stage), SourceDateEpoch: epoch,
		Packages: []Package{baseImage(path.Base(stage), path.Dir(stage), arch, got)}}

	p := r.Packages
	if src.Portage || len(p.Install) > 0 || len(p.Remove) > 0 {
		if err := rel.portageSnapshot(ctx, target, opts); err != nil {
			return nil, err
		}
	}
	if err := emerge(src.Binpkgs, rel.mirror).run(ctx, r, target, epoch, opts); err != nil {
		return nil, err
	}
	return res, nil
}

// emerge installs with the chosen mirror for distfiles (Gentoo mirrors
// carry distfiles/ beside releases/ and snapshots/), from the binary
// package host when binpkgs is set, and removes with --depclean, which
// refuses to break what depends on a package.
func emerge(binpkgs bool, mirror string) packageManager {
	install := "emerge --noreplace"
	if binpkgs {
		install += " --getbinpkg --usepkg"
	}
	return packageManager{install: install, remove: "emerge --depclean", env: []string{"GENTOO_MIRRORS=" + mirror}}
}

// portageSnapshot unpacks the ebuild repository snapshot as
// /var/db/repos/gentoo (the tarball holds a portage/ directory). Its
// detached signature is fetched every time; the snapshot itself is kept
// in the cache under the signature's SHA256 and its signature checked
// again on every use, as the stage3 is checked against its digest.
func (rel *signedRelease) portageSnapshot(ctx context.Context, target string, opts Options) error {
	url := rel.mirror + "/snapshots/portage-latest.tar.xz"
	sig, err := rel.text(ctx, url+".gpgsig")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(sig)
	cached := filepath.Join(rel.cache, "portage", hex.EncodeToString(sum[:])+".tar.xz")
	if err := rel.checkSnapshot(cached, sig, url); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			opts.logf("cached portage snapshot %s: %v; downloading it again", cached, err)
		}
		if err := rel.downloadSnapshot(ctx, url, cached, sig, opts); err != nil {
			return err
		}
	}
	repos := filepath.Join(target, "var/db/repos")
	if err := os.MkdirAll(repos, 0o755); err != nil {
		return err
	}
	if _, err := extractTarball(ctx, cached, repos, url); err != nil {
		return err
	}
	gentoo := filepath.Join(repos, "gentoo")
	if err := os.RemoveAll(gentoo); err != nil { // the stage3's empty placeholder
		return err
	}
	return os.Rename(filepath.Join(repos, "portage"), gentoo)
}

// checkSnapshot verifies a cached snapshot; fs.ErrNotExist: not cached.
func (rel *signedRelease) checkSnapshot(path string, sig []byte, url string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = pgpverify.Detached(f, sig, rel.keys, url+" (cached)")
	return err
}

// downloadSnapshot fetches the snapshot into the cache, keeping it only
// when its signature holds.
func (rel *signedRelease) downloadSnapshot(ctx context.Context, url, path string, sig []byte, opts Options) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := rel.copyTo(ctx, url, out, 1<<40, func(done, total int64) { opts.progress("download", done, total) }, -1); err != nil {
		return err
	}
	if err := rel.checkSnapshot(out.Name(), sig, url); err != nil {
		return err
	}
	return out.Commit()
}
