package bootstrap

import (
	"context"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// signedRelease is where the Fedora and Gentoo sources start: the chosen
// mirror, the recipe's key and a fetcher over the build's cache.
type signedRelease struct {
	*fetcher
	mirror string
	keys   openpgp.EntityList
}

// openRelease checks for root first (the package step chroots), then
// picks the mirror (from the flag, $env or the recipe) and loads the key.
func openRelease(r *recipe.Recipe, opts Options, env, fromRecipe, key string) (*signedRelease, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	mirror, err := pickMirror(opts.Mirror, env, fromRecipe, r.Source.Type)
	if err != nil {
		return nil, err
	}
	keys, err := recipeKeyring(r, key)
	if err != nil {
		return nil, err
	}
	cache, err := cacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	return &signedRelease{fetcher: newFetcher(cache), mirror: mirror, keys: keys}, nil
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
