package archive

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Client reads one suite of a Debian archive. The zero value of every field
// but Mirror and Suite has a working default.
type Client struct {
	Mirror     string   // archive base URL, e.g. from MirrorFrom
	Suite      string   // codename or suite, e.g. "bookworm"
	Components []string // default: main
	Arch       string   // Debian architecture; default: the host's
	Keyring    string   // OpenPGP keyring file; default: DefaultKeyring
	// Keys, when set, are trusted instead of Keyring's: keys checked
	// against pinned fingerprints, say, without the rest of their file.
	Keys openpgp.EntityList
	// CacheDir holds downloads by SHA256; default $XDG_CACHE_HOME/coimage
	// (~/.cache/coimage).
	CacheDir string
	HTTP     *http.Client // default: DefaultHTTPClient()
	// AllowExpired accepts a Release whose Valid-Until has passed (snapshot
	// mirrors); see the package documentation.
	AllowExpired bool
	// Progress, when set, is called during Fetch with the bytes of .debs
	// downloaded or found in the cache so far and the total. Calls are
	// serialized.
	Progress func(done, total int64)
}

// DefaultHTTPClient bounds each phase of a request so that a dead mirror
// fails instead of hanging; the overall limit leaves room for large .debs
// on slow links, and the caller's context cancels earlier.
func DefaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = fetchWorkers
	return &http.Client{Transport: t, Timeout: 15 * time.Minute}
}

// DebianArch maps a Go GOARCH to the Debian architecture name.
func DebianArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	case "mipsle":
		return "mipsel"
	}
	return goarch
}

// settings is a Client with its defaults filled in.
type settings struct {
	Client
	mirror string
}

func (c *Client) settings() (*settings, error) {
	s := &settings{Client: *c}
	if c.Suite == "" {
		return nil, fmt.Errorf("archive client: no suite given")
	}
	m, err := normalizeMirror(c.Mirror, "archive client")
	if err != nil {
		return nil, err
	}
	s.mirror = m
	if len(s.Components) == 0 {
		s.Components = []string{"main"}
	}
	if s.Arch == "" {
		s.Arch = DebianArch(runtime.GOARCH)
	}
	if s.Keyring == "" {
		s.Keyring = DefaultKeyring
	}
	if s.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("archive cache: %w", err)
		}
		s.CacheDir = filepath.Join(base, "coimage")
	}
	if s.HTTP == nil {
		s.HTTP = DefaultHTTPClient()
	}
	return s, nil
}

// distURL is the URL of a file below dists/<suite>/.
func (s *settings) distURL(rel string) string {
	return s.mirror + "/dists/" + s.Suite + "/" + rel
}

// Open GETs the file at path below the mirror, unverified: the caller
// checks what it reads against the signed Release before using it.
func (c *Client) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	return s.open(ctx, s.mirror+"/"+path)
}

// Release fetches and verifies the suite's InRelease, refusing it when it
// names another suite (a replay) or has expired (unless AllowExpired).
func (c *Client) Release(ctx context.Context) (*Release, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	return s.release(ctx)
}

func (s *settings) release(ctx context.Context) (*Release, error) {
	keys := s.Keys
	if len(keys) == 0 {
		var err error
		if keys, err = LoadKeyring(s.Keyring); err != nil {
			return nil, err
		}
	}
	url := s.distURL("InRelease")
	data, err := s.getSmall(ctx, url, 64<<20)
	if err != nil {
		return nil, err
	}
	rel, err := VerifyInRelease(data, keys, url)
	if err != nil {
		return nil, err
	}
	if rel.Suite != s.Suite && rel.Codename != s.Suite {
		return nil, fmt.Errorf("%s: signed for suite %q (codename %q), not %q: %w", url, rel.Suite, rel.Codename, s.Suite, ErrSignature)
	}
	if !rel.ValidUntil.IsZero() && time.Now().After(rel.ValidUntil) && !s.AllowExpired {
		return nil, fmt.Errorf("%s: Valid-Until %s has passed (allow expired metadata for snapshot mirrors): %w",
			url, rel.ValidUntil.Format(time.RFC1123), ErrExpired)
	}
	if len(rel.Architectures) > 0 && !slices.Contains(rel.Architectures, s.Arch) {
		return nil, fmt.Errorf("%s: architecture %s not in the suite (%s)", url, s.Arch, strings.Join(rel.Architectures, " "))
	}
	return rel, nil
}
