// Package distkeys gets other distributions' signing keys (Fedora's,
// Gentoo's, Ubuntu's archive keys) from the Debian packages that ship them
// (distribution-gpg-keys, ubuntu-keyring), through the verified Debian
// archive client: the host's Debian keyring → the suite's signed InRelease
// → Packages → the .deb → the key file, which must then hold every
// fingerprint the recipe pins. Only the pinned keys are returned. A
// verified key file is cached, so later builds need no network; a file
// given by hand (a recipe's keys/ directory) overrides the package, under
// the same pins.
//
// The packages need not be in the host's release: distribution-gpg-keys
// entered Debian with trixie, so the suites are searched in order
// (DefaultSuites) and the first whose package holds the pinned keys wins.
package distkeys

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
)

// ErrFingerprint: a key file lacks a pinned fingerprint (another key, or
// a pin that is not a fingerprint).
var ErrFingerprint = errors.New("key fingerprint does not match the pin")

// ErrNotFound: no searched suite has the package or the file in it.
var ErrNotFound = errors.New("key not found")

// KeyringEnv names the keyring that verifies the Debian archive the key
// packages come from, when Fetcher.Keyring is empty; without it the host's
// Debian archive keyring does. Tests point it at a fixture archive's key.
const KeyringEnv = "COIMAGE_DEBIAN_KEYRING"

// DefaultSuites are searched in this order: the current release first,
// then the newer ones, which carry keys of newer releases of the other
// distributions.
var DefaultSuites = []string{"stable", "testing", "unstable"}

// Key names a key file inside a Debian package and pins its keys.
type Key struct {
	Package string // e.g. "distribution-gpg-keys", "ubuntu-keyring"
	// File is the key file's path inside the package, e.g.
	// "usr/share/keyrings/ubuntu-archive-keyring.gpg". Symlinks inside the
	// package are followed.
	File string
	// Fingerprints are the primary keys' fingerprints (hex; case and
	// spaces ignored) that the file must hold; at least one.
	Fingerprints []string
}

func (k Key) String() string { return k.Package + ":/" + k.File }

// Keyring is a verified key file and its pinned keys.
type Keyring struct {
	Keys openpgp.EntityList // only the pinned ones
	Path string             // the file on disk (the override or the cached copy)
	From string             // where it came from, for logs
}

// Fetcher reads keys through the Debian archive. The zero value works:
// the mirror comes from $COIMAGE_DEBIAN_MIRROR or the host's apt sources,
// never from a build's --mirror, which names the other distribution's.
type Fetcher struct {
	Mirror   string   // Debian mirror; default archive.MirrorFrom("")
	Suites   []string // searched in order; default DefaultSuites
	Keyring  string   // Debian archive keyring; default $COIMAGE_DEBIAN_KEYRING, else archive.DefaultKeyring
	Arch     string   // Debian architecture of the index read; default the host's
	CacheDir string   // default the user's cache for coimage; keys go to keys/ below it
	HTTP     *http.Client
}

// Load returns k's pinned keys from override when that file exists, else
// from the cache, else from the package in the archive (then cached).
func (f *Fetcher) Load(ctx context.Context, k Key, override string) (*Keyring, error) {
	pins, err := parsePins(k)
	if err != nil {
		return nil, err
	}
	if override != "" {
		data, err := os.ReadFile(override)
		if err == nil {
			keys, err := pinned(data, pins, override)
			if err != nil {
				return nil, err
			}
			return &Keyring{Keys: keys, Path: override, From: override}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	cacheDir, err := f.cacheDir()
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(cacheDir, "keys", cacheName(k))
	if data, err := os.ReadFile(cached); err == nil {
		// A changed pin (a recipe moved to a newer key) fetches again.
		if keys, err := pinned(data, pins, cached); err == nil {
			return &Keyring{Keys: keys, Path: cached, From: k.String() + " (cached)"}, nil
		}
	}
	data, keys, from, err := f.fetch(ctx, k, pins, cacheDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(cached, data, 0o644); err != nil {
		return nil, err
	}
	return &Keyring{Keys: keys, Path: cached, From: from}, nil
}

// LoadFile returns the keys of a local keyring file whose fingerprints
// are pinned, failing unless every pin is among them: a Debian recipe's
// keyring narrowed to the keys it pins.
func LoadFile(path string, fingerprints []string) (openpgp.EntityList, error) {
	pins, err := parsePins(Key{Package: "keyring", File: path, Fingerprints: fingerprints})
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return pinned(data, pins, path)
}

// fetch searches the suites for the package and returns the first key
// file holding the pinned keys; the errors of every suite tried explain a
// failure.
func (f *Fetcher) fetch(ctx context.Context, k Key, pins []string, cacheDir string) ([]byte, openpgp.EntityList, string, error) {
	mirror, err := archive.MirrorFrom(f.Mirror)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", k, err)
	}
	suites := f.Suites
	if len(suites) == 0 {
		suites = DefaultSuites
	}
	keyring := f.Keyring
	if keyring == "" {
		keyring = os.Getenv(KeyringEnv)
	}
	var errs []error
	mismatch := false
	for _, suite := range suites {
		c := &archive.Client{Mirror: mirror, Suite: suite, Keyring: keyring, Arch: f.Arch, CacheDir: cacheDir, HTTP: f.HTTP}
		data, version, err := fileFromSuite(ctx, c, k)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, "", ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", suite, err))
			continue
		}
		from := fmt.Sprintf("%s %s from %s %s", k, version, mirror, suite)
		keys, err := pinned(data, pins, from)
		if err != nil {
			mismatch = true
			errs = append(errs, err)
			continue
		}
		return data, keys, from, nil
	}
	sentinel := ErrNotFound
	if mismatch {
		sentinel = ErrFingerprint
	}
	return nil, nil, "", fmt.Errorf("%s: %w: %w", k, sentinel, errors.Join(errs...))
}

// fileFromSuite downloads and verifies the suite's package and reads the
// key file out of it.
func fileFromSuite(ctx context.Context, c *archive.Client, k Key) ([]byte, string, error) {
	ix, err := c.Index(ctx)
	if err != nil {
		return nil, "", err
	}
	p := ix.Lookup(k.Package)
	if p == nil {
		return nil, "", fmt.Errorf("no package %s: %w", k.Package, ErrNotFound)
	}
	debs, err := c.Fetch(ctx, []*archive.Package{p})
	if err != nil {
		return nil, "", err
	}
	deb, err := archive.OpenDeb(debs[0])
	if err != nil {
		return nil, "", err
	}
	defer deb.Close()
	tmp, err := os.MkdirTemp("", "distkeys-*")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	if _, err := deb.ExtractData(ctx, tmp, archive.ExtractOptions{Unprivileged: true}); err != nil {
		return nil, "", fmt.Errorf("package %s: %w", p, err)
	}
	// The root confines symlinks in the package to the package's tree.
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return nil, "", err
	}
	defer root.Close()
	data, err := root.ReadFile(path.Clean(k.File))
	if err != nil {
		return nil, "", fmt.Errorf("package %s has no file /%s: %w", p, k.File, ErrNotFound)
	}
	return data, p.Version, nil
}

// parsePins normalizes the pinned fingerprints: v4 (40 hex digits) or v5/v6
// (64).
func parsePins(k Key) ([]string, error) {
	if len(k.Fingerprints) == 0 {
		return nil, fmt.Errorf("%s: no fingerprint pinned: %w", k, ErrFingerprint)
	}
	var out []string
	for _, fp := range k.Fingerprints {
		n := strings.ToUpper(strings.ReplaceAll(fp, " ", ""))
		if _, err := hex.DecodeString(n); err != nil || len(n) != 40 && len(n) != 64 {
			return nil, fmt.Errorf("%s: pin %q is not a key fingerprint: %w", k, fp, ErrFingerprint)
		}
		out = append(out, n)
	}
	return out, nil
}

// pinned parses a key file and returns its keys whose fingerprints are
// pinned, failing unless every pin is among them.
func pinned(data []byte, pins []string, name string) (openpgp.EntityList, error) {
	keys, err := pgpverify.ReadKeyring(data, name)
	if err != nil {
		return nil, err
	}
	have := map[string]*openpgp.Entity{}
	var found []string
	for _, e := range keys {
		fp := pgpverify.Fingerprint(e)
		have[fp] = e
		found = append(found, fp)
	}
	var out openpgp.EntityList
	for _, pin := range pins {
		e, ok := have[pin]
		if !ok {
			return nil, fmt.Errorf("%s: no key %s (it holds %s): %w", name, pin, strings.Join(found, ", "), ErrFingerprint)
		}
		out = append(out, e)
	}
	return out, nil
}

// cacheName keeps keys of different packages and files apart.
func cacheName(k Key) string {
	sum := sha256.Sum256([]byte(k.Package + "\x00" + k.File))
	return hex.EncodeToString(sum[:8]) + "-" + path.Base(k.File)
}

func (f *Fetcher) cacheDir() (string, error) {
	if f.CacheDir != "" {
		return f.CacheDir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("key cache: %w", err)
	}
	return filepath.Join(base, "coimage"), nil
}
