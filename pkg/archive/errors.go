package archive

import (
	"errors"
	"fmt"

	"github.com/colinux-ng/colinux/pkg/pgpverify"
)

// Sentinel errors, matched with errors.Is; the wrapping error names the URL,
// file or package involved.
var (
	// ErrSignature: InRelease is unsigned, badly signed or signed by a key
	// outside the keyring.
	ErrSignature = pgpverify.ErrSignature
	// ErrChecksum: a download or cached file does not match its expected
	// size or SHA256.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrExpired: the Release's Valid-Until lies in the past.
	ErrExpired = errors.New("release metadata expired")
	// ErrUnresolvable: a dependency cannot be satisfied from the index.
	ErrUnresolvable = errors.New("unresolvable dependency")
	// ErrFormat: malformed Release, Packages, control data or .deb.
	ErrFormat = errors.New("malformed archive data")
	// ErrUnsafePath: a .deb entry would be written outside the target
	// directory.
	ErrUnsafePath = errors.New("unsafe path in package")
	// ErrNoMirror: no Debian mirror was configured or found.
	ErrNoMirror = errors.New("no Debian mirror configured")
)

// StatusError reports an HTTP response other than 200 OK.
type StatusError struct {
	URL    string
	Status string
	Code   int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}
