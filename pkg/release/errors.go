// Package release makes and reads coLinux NG releases: cobd images
// compressed as independent zstd frames with a seek table, a SHA256SUMS
// file, and a minisign-signed index.json that names every image with its
// raw and compressed SHA256 and expires; published as static files or as
// an OCI artifact. Pull verifies signature → compressed hash → raw hash
// before anything is renamed into place.
package release

import (
	"errors"

	"github.com/colinux-ng/colinux/pkg/fetch"
)

// Sentinel errors, matched with errors.Is; the wrapping error names the
// file, URL or image involved.
var (
	// ErrSignature: a signature is missing, malformed, bad, or made by a
	// key that is not trusted.
	ErrSignature = errors.New("signature check failed")
	// ErrExpired: the index's expiry time has passed.
	ErrExpired = errors.New("index expired")
	// ErrFormat: a malformed index, seek table, SHA256SUMS or manifest.
	ErrFormat = errors.New("malformed release data")
	// ErrUnsafePath: the index names a file outside its own origin.
	ErrUnsafePath = errors.New("path outside the index's origin")
	// ErrNotFound: no image of that name (and serial) in the index.
	ErrNotFound = errors.New("no such image")
	// ErrChecksum: a file does not have its promised size or SHA256.
	ErrChecksum = fetch.ErrChecksum
)
