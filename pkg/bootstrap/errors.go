package bootstrap

import "errors"

// Sentinel errors of the Fedora and Gentoo sources, matched with
// errors.Is; the wrapping error names the URL or file. Signatures fail
// with pgpverify.ErrSignature and digests with archive.ErrChecksum, as
// Debian's do.
var (
	// ErrNoDigest: the signed checksum list has no entry for the file.
	ErrNoDigest = errors.New("no checksum entry")
)
