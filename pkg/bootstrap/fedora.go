package bootstrap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// Fedora bootstraps Fedora by one of two methods. container (the
// default) starts from the official Container Base image:
//
//	<mirror>/releases/<N>/Container/<arch>/images/
//	  Fedora-Container-<N>-<compose>-<arch>-CHECKSUM   clearsigned, SHA256 lines
//	  Fedora-Container-Base-Generic-<N>-<compose>.<arch>.oci.tar.xz
//
// The CHECKSUM's signature is checked against the release key, the image
// against the CHECKSUM's SHA256, and the image's one layer is unpacked as
// the root; the recipe's packages are then installed with dnf inside the
// target. It is one download that Fedora's release engineering composed
// and tested, but the base is what Fedora chose for containers
// (documentation stripped by its dnf.conf) and only as fresh as the
// release's image, so dnf updates on top of it.
//
// repo builds the tree from the release's and its updates' repositories
// (repomd.xml → primary.xml → RPMs) with exactly the recipe's packages
// and their requirements: see bootstrapRepo.
type Fedora struct{}

// dnf is run inside the target; the image's repositories and dnf's own
// package signature checks (gpgcheck) apply.
var dnf = packageManager{install: "dnf -y install", remove: "dnf -y remove"}

// Bootstrap implements Source.
func (f Fedora) Bootstrap(ctx context.Context, r *recipe.Recipe, target string, opts Options) (*Result, error) {
	src := r.Source.Fedora
	if src == nil {
		return nil, fmt.Errorf("%s: no fedora source section", r.File)
	}
	rel, err := openRelease(ctx, opts, recipe.Fedora, FedoraMirrorEnv, src.Mirror, FedoraDefaultMirror,
		func(ctx context.Context, f *distkeys.Fetcher, _ *fetcher) (openpgp.EntityList, error) {
			return fedoraKeys(ctx, r, f, opts)
		})
	if err != nil {
		return nil, err
	}
	if src.Method == "repo" {
		return f.bootstrapRepo(ctx, r, target, rel, opts)
	}
	arch := r.Image.Architecture

	opts.progress("index", 0, 0)
	dir := rel.mirror + "/" + fedoraTree(src.Release) + "/Container/" + arch + "/images/"
	listing, err := rel.text(ctx, dir)
	if err != nil {
		return nil, err
	}
	sumName, err := findChecksum(listing, src.Release, arch, dir)
	if err != nil {
		return nil, err
	}
	sumURL := dir + sumName
	text, err := rel.signedText(ctx, sumURL)
	if err != nil {
		return nil, err
	}
	sums, err := parseChecksum(text, sumURL)
	if err != nil {
		return nil, err
	}
	image, err := pickContainerBase(sums, src.Release, arch, sumURL)
	if err != nil {
		return nil, err
	}
	got, err := rel.verified(ctx, dir+image, sums[image], func(done, total int64) { opts.progress("download", done, total) })
	if err != nil {
		return nil, err
	}

	opts.progress("unpack", 0, 0)
	scratch, err := os.MkdirTemp(filepath.Dir(target), ".fedora-container-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	newest, err := extractContainer(ctx, got.Path, scratch, target, dir+image)
	if err != nil {
		return nil, err
	}
	epoch := epochOr(opts.SourceDateEpoch, newest)
	if err := dnf.run(ctx, r, target, epoch, opts); err != nil {
		return nil, err
	}
	return &Result{Mirror: rel.mirror, Suite: src.Release, SourceDateEpoch: epoch,
		Packages: []Package{baseImage(image, src.Release, arch, got)}}, nil
}

// fedoraTree is a release's directory below the mirror.
func fedoraTree(release string) string {
	if release == "rawhide" {
		return "development/rawhide"
	}
	return "releases/" + release
}

// baseImage records the verified base tarball in the manifest's package
// list: the packages inside are the distribution's, installed as one.
func baseImage(file, version, arch string, got *fetched) Package {
	return Package{Name: file, Version: version, Architecture: arch, SHA256: got.SHA256, Size: got.Size}
}
