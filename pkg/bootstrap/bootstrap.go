// Package bootstrap installs a distribution's base system into a directory:
// one Source per distribution behind one interface, chosen by the recipe's
// source type from a registry (as lxc/distrobuilder does). Sources run their
// second stage through Chroot, which confines every mount to a mount
// namespace that dies with it.
//
// Debian is bootstrapped natively from its signed archive; Fedora from its
// signed Container Base image or, with method repo, from its package
// repositories (each RPM's header signature checked); Gentoo from its
// signed stage3 (see the Fedora and Gentoo types for the layouts and the
// trade-offs). Every base download is verified (OpenPGP signature on the
// checksum list or package header, then the file's digest) before
// anything is unpacked.
//
// Mirrors: the command line (Options.Mirror), then $COIMAGE_DEBIAN_MIRROR,
// $COIMAGE_FEDORA_MIRROR or $COIMAGE_GENTOO_MIRROR, then the recipe's
// source.mirror. Debian falls back to the host's apt sources, Fedora and
// Gentoo to their distributions' own download services
// (FedoraDefaultMirror, GentooDefaultMirror).
//
// Keys: Fedora's release key comes from Debian's distribution-gpg-keys
// package through the verified Debian archive client (pkg/distkeys),
// Gentoo's from Gentoo's key server (Debian ships none); a recipe's
// keys/ file overrides either, and only keys whose fingerprints the
// recipe pins are ever used.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// Source bootstraps one distribution.
type Source interface {
	// Bootstrap installs the recipe's base system and packages into target,
	// an existing empty directory, configured and ready for customization.
	Bootstrap(ctx context.Context, r *recipe.Recipe, target string, opts Options) (*Result, error)
}

// sources maps a recipe's source type to its Source.
var sources = map[string]Source{
	recipe.Debian: Debian{},
	recipe.Ubuntu: Ubuntu{},
	recipe.Fedora: Fedora{},
	recipe.Gentoo: Gentoo{},
}

// ErrUnsupported: no Source is registered for the recipe's source type.
var ErrUnsupported = errors.New("unsupported source type")

// Options tune a bootstrap; the zero value works.
type Options struct {
	// Mirror overrides the recipe's and the host's package mirror.
	Mirror string
	// CacheDir holds verified downloads; empty means the user's cache.
	CacheDir string
	// SourceDateEpoch pins timestamps the package scripts write; nil lets
	// the source choose (Debian: the signed Release's date).
	SourceDateEpoch *int64
	// Progress, when set, hears about long phases in bytes.
	Progress Progress
	// Log, when set, receives the output of commands run in the target as
	// it happens; failures carry their output either way.
	Log io.Writer
	// Keys fetches the Fedora key from Debian's distribution-gpg-keys
	// package (and checks every key against the recipe's pins); nil
	// means distkeys' defaults ($COIMAGE_DEBIAN_MIRROR or the host's apt
	// sources, $COIMAGE_DEBIAN_KEYRING or the host's keyring) over
	// CacheDir.
	Keys *distkeys.Fetcher
	// NoBaseCache neither reuses nor saves configured base systems. By
	// default a Debian base (the packages unpacked and configured, before
	// the recipe's customization) is kept in the cache, keyed by its
	// verified packages and everything else that decides its bytes, and
	// restored instead of installed again, as mkosi's incremental builds do.
	NoBaseCache bool
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "coimage: "+format+"\n", args...)
	}
}

// Progress reports that phase has done of total bytes behind it.
type Progress func(phase string, done, total int64)

func (o Options) progress(phase string, done, total int64) {
	if o.Progress != nil {
		o.Progress(phase, done, total)
	}
}

// Result describes what was installed.
type Result struct {
	Mirror   string    // the mirror used, as written into the image
	Suite    string    // the release installed
	Packages []Package // sorted by name
	// SourceDateEpoch is the time that clamps file times: Options'
	// when given, else the source's choice.
	SourceDateEpoch int64
}

// Package is one installed package and the verified file it came from.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	SHA256       string `json:"sha256"`
	Size         int64  `json:"size"`
}

// Bootstrap runs the Source registered for the recipe's source type.
func Bootstrap(ctx context.Context, r *recipe.Recipe, target string, opts Options) (*Result, error) {
	s, ok := sources[r.Source.Type]
	if !ok {
		return nil, fmt.Errorf("%s: source type %q: %w (have %v)", r.File, r.Source.Type, ErrUnsupported, Types())
	}
	return s.Bootstrap(ctx, r, target, opts)
}

// Types lists the registered source types, sorted.
func Types() []string {
	out := make([]string, 0, len(sources))
	for t := range sources {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// epochOr returns *pinned, else the fallback time.
func epochOr(pinned *int64, fallback time.Time) int64 {
	if pinned != nil {
		return *pinned
	}
	return fallback.Unix()
}
