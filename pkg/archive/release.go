package archive

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/pgpverify"
)

// DefaultKeyring is where Debian's debian-archive-keyring package installs
// the archive signing keys.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// FileHash is the expected size and SHA256 (lowercase hex) of a file.
type FileHash struct {
	Size   int64
	SHA256 string
}

// Release is the signed description of one suite, parsed from InRelease.
type Release struct {
	Origin, Label, Suite, Codename, Version string
	Date                                    time.Time
	ValidUntil                              time.Time // zero when the Release has none
	Architectures, Components               []string
	// AcquireByHash says index files are also served under
	// by-hash/SHA256/<hex>, which stays consistent while a mirror updates.
	AcquireByHash bool
	// Files maps paths relative to dists/<suite>/ to their SHA256 entry.
	Files map[string]FileHash
	// Signer is the fingerprint of the primary key that signed it.
	Signer string
}

// LoadKeyring reads an OpenPGP keyring file, binary (as Debian ships them)
// or ASCII-armored.
func LoadKeyring(path string) (openpgp.EntityList, error) {
	return pgpverify.LoadKeyring(path)
}

// VerifyInRelease checks the clearsigned InRelease data against keyring and
// parses the signed text only: anything outside the signed block is ignored.
// name (the URL or file) labels errors.
func VerifyInRelease(data []byte, keyring openpgp.KeyRing, name string) (*Release, error) {
	text, signer, err := pgpverify.Clearsigned(data, keyring, name)
	if err != nil {
		return nil, err
	}
	rel, err := parseRelease(text, name)
	if err != nil {
		return nil, err
	}
	rel.Signer = signer
	return rel, nil
}

// parseRelease reads the fields of a (verified) Release text.
func parseRelease(text []byte, name string) (*Release, error) {
	var (
		rel  *Release
		perr error
	)
	err := parseParagraphs(bytes.NewReader(text), name, func(p Paragraph, line int) error {
		if rel != nil {
			return fmt.Errorf("%s:%d: more than one paragraph: %w", name, line, ErrFormat)
		}
		rel, perr = releaseFrom(p, name)
		return perr
	})
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, fmt.Errorf("%s: empty Release: %w", name, ErrFormat)
	}
	return rel, nil
}

func releaseFrom(p Paragraph, name string) (*Release, error) {
	rel := &Release{
		Origin:        p.Get("Origin"),
		Label:         p.Get("Label"),
		Suite:         p.Get("Suite"),
		Codename:      p.Get("Codename"),
		Version:       p.Get("Version"),
		Architectures: strings.Fields(p.Get("Architectures")),
		Components:    strings.Fields(p.Get("Components")),
		AcquireByHash: strings.EqualFold(p.Get("Acquire-By-Hash"), "yes"),
		Files:         map[string]FileHash{},
	}
	var err error
	if rel.Date, err = parseReleaseTime(p.Get("Date")); err != nil {
		return nil, fmt.Errorf("%s: Date: %w", name, err)
	}
	if v := p.Get("Valid-Until"); v != "" {
		if rel.ValidUntil, err = parseReleaseTime(v); err != nil {
			return nil, fmt.Errorf("%s: Valid-Until: %w", name, err)
		}
	}
	for _, line := range strings.Split(p.Get("SHA256"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		size, serr := strconv.ParseInt(valueAt(f, 1), 10, 64)
		if len(f) != 3 || !isSHA256(f[0]) || serr != nil || size < 0 {
			return nil, fmt.Errorf("%s: bad SHA256 entry %q: %w", name, line, ErrFormat)
		}
		rel.Files[f[2]] = FileHash{Size: size, SHA256: f[0]}
	}
	if len(rel.Files) == 0 {
		return nil, fmt.Errorf("%s: no SHA256 file list: %w", name, ErrFormat)
	}
	return rel, nil
}

func valueAt(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// parseReleaseTime accepts the RFC 2822 dates dak and reprepro write.
func parseReleaseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("missing: %w", ErrFormat)
	}
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable date %q: %w", s, ErrFormat)
}

// isSHA256 reports a lowercase hex SHA256; cache file names are built from
// these, so nothing else may pass.
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
