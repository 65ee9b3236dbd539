package bootstrap

import (
	"context"
	"fmt"
	"os"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// Ubuntu bootstraps Ubuntu exactly as Debian is bootstrapped: its archive
// has Debian's layout (signed InRelease, Packages, pool/). Only the trust
// root differs: Ubuntu's archive keys come from Debian's ubuntu-keyring
// package, fetched through the verified Debian archive client (see
// distkeys) and checked against the fingerprints pinned in the recipe, or
// defaultUbuntuKey's; a keyring file at the recipe's source.keyring
// overrides the package under the same pins. The host's keyrings are never
// consulted.
type Ubuntu struct{}

// Ubuntu's official archives: amd64 (and i386) on the main archive, every
// other architecture on the ports archive. Ubuntu's own service, so
// allowed as a default.
const (
	UbuntuMirrorEnv     = "COIMAGE_UBUNTU_MIRROR"
	DefaultUbuntuMirror = "http://archive.ubuntu.com/ubuntu"
	ubuntuPortsMirror   = "http://ports.ubuntu.com/ubuntu-ports"
)

// defaultUbuntuKey is the key signing Ubuntu's archive since 18.04:
// "Ubuntu Archive Automatic Signing Key (2018)".
var defaultUbuntuKey = distkeys.Key{
	Package:      "ubuntu-keyring",
	File:         "usr/share/keyrings/ubuntu-archive-keyring.gpg",
	Fingerprints: []string{"F6ECB3762474EDA9D21B7022871920D1991BC93C"},
}

// Bootstrap implements Source.
func (Ubuntu) Bootstrap(ctx context.Context, r *recipe.Recipe, target string, opts Options) (*Result, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	src := r.Source.Debian
	if src == nil {
		return nil, fmt.Errorf("%s: no ubuntu source section", r.File)
	}
	def := DefaultUbuntuMirror
	if r.Image.Architecture != "amd64" && r.Image.Architecture != "i386" {
		def = ubuntuPortsMirror
	}
	mirror, err := pickMirror(opts.Mirror, UbuntuMirrorEnv, src.Mirror, def, recipe.Ubuntu)
	if err != nil {
		return nil, err
	}
	cacheDir, err := cacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	key := defaultUbuntuKey
	if len(src.Fingerprints) > 0 {
		key.Fingerprints = src.Fingerprints
	}
	opts.progress("keys", 0, 0)
	kr, err := opts.keyFetcher(cacheDir).Load(ctx, key, r.HostPath(src.Keyring))
	if err != nil {
		return nil, fmt.Errorf("%s: Ubuntu archive keys: %w", r.File, err)
	}
	opts.logf("Ubuntu archive keys: %s", kr.From)
	return aptBootstrap(ctx, r, target, opts, &archive.Client{Mirror: mirror, Keys: kr.Keys, CacheDir: cacheDir})
}
