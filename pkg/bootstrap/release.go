package bootstrap

import (
	"context"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
)

// signedRelease is where the Fedora and Gentoo sources start: the chosen
// mirror, the recipe's pinned keys and a fetcher over the build's cache.
type signedRelease struct {
	*fetcher
	mirror string
	keys   openpgp.EntityList
}

// keyLoader finds a source's signing keys.
type keyLoader func(ctx context.Context, f *distkeys.Fetcher, fe *fetcher) (openpgp.EntityList, error)

// openRelease checks for root first (the package step chroots), then
// picks the mirror (from the flag, $env, the recipe or the distribution's
// default) and loads the keys.
func openRelease(ctx context.Context, opts Options, distro, env, fromRecipe, def string, load keyLoader) (*signedRelease, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	mirror, err := pickMirror(opts.Mirror, env, fromRecipe, def, distro)
	if err != nil {
		return nil, err
	}
	cache, err := cacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	fe := newFetcher(cache)
	keys, err := load(ctx, opts.keyFetcher(cache), fe)
	if err != nil {
		return nil, err
	}
	return &signedRelease{fetcher: fe, mirror: mirror, keys: keys}, nil
}

// signedText fetches a clearsigned text and returns its verified content.
func (s *signedRelease) signedText(ctx context.Context, url string) ([]byte, error) {
	data, err := s.text(ctx, url)
	if err != nil {
		return nil, err
	}
	text, _, err := pgpverify.Clearsigned(data, s.keys, url)
	return text, err
}
