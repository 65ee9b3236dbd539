// Package archive is a verified Debian archive client: it finds the mirror
// in the host's apt sources, checks the clearsigned InRelease against a
// keyring, loads Packages indices whose size and SHA256 the Release lists,
// resolves a bootstrap package set, downloads .debs into a content-addressed
// cache and unpacks them.
//
// Trust flows one way: keyring → InRelease signature → Release SHA256 of
// Packages.xz → Packages SHA256 of each .deb. Nothing is parsed or unpacked
// before the step above it has verified it.
//
// Valid-Until: a Release whose Valid-Until lies in the past is refused with
// ErrExpired unless Client.AllowExpired is set. Debian's main archive omits
// Valid-Until for stable suites (the bookworm InRelease has none), so the
// default costs nothing there; it protects against a mirror replaying stale
// security or testing metadata. Point-in-time snapshot mirrors carry expired
// dates by design; set AllowExpired for them, as apt needs
// Acquire::Check-Valid-Until=false.
package archive
