package bootstrap

import "errors"

// Sentinel errors of the Fedora and Gentoo sources, matched with
// errors.Is; the wrapping error names the URL or file. Signatures fail
// with pgpverify.ErrSignature and digests with archive.ErrChecksum, as
// Debian's do.
var (
	// ErrNoMirror: neither the command line, the environment nor the
	// recipe names a mirror. coimage knows no default: the project keeps
	// package registry host names out of its code, so the user picks one.
	ErrNoMirror = errors.New("no mirror configured")
	// ErrNoDigest: the signed checksum list has no entry for the file.
	ErrNoDigest = errors.New("no checksum entry")
)
