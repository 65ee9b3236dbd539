package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// Where the Fedora and Gentoo signing keys come from when the recipe's
// keys/ file (source.key) is absent. Either way only keys whose
// fingerprints the recipe pins (source.fingerprints) are used.
const (
	// FedoraKeyPackage ships every Fedora release's primary key in
	// Debian (trixie and later).
	FedoraKeyPackage = "distribution-gpg-keys"
	// GentooKeyServer is Gentoo's own key server (HKP): Debian ships no
	// Gentoo release keys, so they are looked up there by fingerprint.
	GentooKeyServer = "https://keys.gentoo.org"
)

// fedoraKeyFile is the release's key inside FedoraKeyPackage (rawhide's
// is a symlink to the newest release's).
func fedoraKeyFile(release string) string {
	return "usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-" + release + "-primary"
}

// keyFetcher is the options' fetcher or one over the build's cache.
func (o Options) keyFetcher(cache string) *distkeys.Fetcher {
	if o.Keys != nil {
		f := *o.Keys
		if f.CacheDir == "" {
			f.CacheDir = cache
		}
		return &f
	}
	return &distkeys.Fetcher{CacheDir: cache}
}

// override is the recipe's key file, "" when it names none.
func override(r *recipe.Recipe, key string) string {
	if key == "" {
		return ""
	}
	return r.HostPath(key)
}

// fedoraKeys loads the release key from the recipe's keys/ file, else
// from Debian's distribution-gpg-keys, pinned.
func fedoraKeys(ctx context.Context, r *recipe.Recipe, f *distkeys.Fetcher, opts Options) (openpgp.EntityList, error) {
	src := r.Source.Fedora
	k := distkeys.Key{Package: FedoraKeyPackage, File: fedoraKeyFile(src.Release), Fingerprints: src.Fingerprints}
	kr, err := f.Load(ctx, k, override(r, src.Key))
	if err != nil {
		return nil, fmt.Errorf("%s: source.fingerprints: %w", r.File, err)
	}
	opts.logf("fedora key: %s", kr.From)
	return kr.Keys, nil
}

// gentooKeys loads the pinned keys from the recipe's keys/ file, else
// each from Gentoo's key server (cached once it matched its pin).
func gentooKeys(ctx context.Context, r *recipe.Recipe, f *distkeys.Fetcher, fe *fetcher, opts Options) (openpgp.EntityList, error) {
	src := r.Source.Gentoo
	if path := override(r, src.Key); path != "" {
		if _, err := os.Stat(path); err == nil {
			kr, err := f.Load(ctx, distkeys.Key{Package: "keys", File: src.Key, Fingerprints: src.Fingerprints}, path)
			if err != nil {
				return nil, fmt.Errorf("%s: source.fingerprints: %w", r.File, err)
			}
			opts.logf("gentoo keys: %s", kr.From)
			return kr.Keys, nil
		}
	}
	server := strings.TrimRight(src.KeyServer, "/")
	if server == "" {
		server = GentooKeyServer
	}
	var out openpgp.EntityList
	for _, pin := range src.Fingerprints {
		fp := strings.ToUpper(strings.ReplaceAll(pin, " ", ""))
		cached := filepath.Join(f.CacheDir, "keys", "gentoo-"+fp+".asc")
		lookup := server + "/pks/lookup?op=get&options=mr&search=0x" + url.QueryEscape(fp)
		if _, err := os.Stat(cached); errors.Is(err, fs.ErrNotExist) {
			data, err := fe.text(ctx, lookup)
			if err != nil {
				return nil, fmt.Errorf("%s: gentoo key %s: %w", r.File, fp, err)
			}
			if err := writeFile(cached, data); err != nil {
				return nil, err
			}
		}
		kr, err := f.Load(ctx, distkeys.Key{Package: "gentoo key server", File: fp, Fingerprints: []string{fp}}, cached)
		if err != nil {
			os.Remove(cached) // another answer next time
			return nil, fmt.Errorf("%s: source.fingerprints: key from %s: %w", r.File, lookup, err)
		}
		opts.logf("gentoo key %s: %s", fp, lookup)
		out = append(out, kr.Keys...)
	}
	return out, nil
}

// writeFile replaces path with data, atomically, making its directory.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}
